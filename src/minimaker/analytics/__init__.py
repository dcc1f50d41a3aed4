"""Anonymous usage aggregates (policy 4.2, 7.3): k-suppressed, OpenDP-noised, budgeted."""
