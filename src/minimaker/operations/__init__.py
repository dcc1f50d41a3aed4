"""Operations: start-up, master-key rotation, backup and restore; each audited."""
