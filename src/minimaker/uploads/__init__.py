"""Uploads (policy 4.1, 5.1): photos checked by content, kept encrypted under the owner's key."""
