"""The page shell: one layout, one session and CSRF scheme, one way to render a page."""
