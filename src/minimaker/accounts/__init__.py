"""Accounts (policy 3.3, 5.1): sign-up, sign-in with throttles, sessions, profile correction."""
