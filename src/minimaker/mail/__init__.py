"""Mail (policy 6, 13): the sealed outbox and its delivery."""
