"""Staff (policy 5.1): staff accounts, roles (least privilege), sign-in and sessions."""
