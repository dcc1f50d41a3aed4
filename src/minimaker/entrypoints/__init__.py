"""Entry points: the app factory (one error renderer), middleware, page shell, CLI, worker."""
