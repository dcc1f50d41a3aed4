"""Sharing (policy 7.1-7.3, 10.2): data leaves for a third party only through this service."""
