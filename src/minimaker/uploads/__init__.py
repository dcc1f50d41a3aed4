"""Uploads (policy 4.1, 5.1): photos checked by content, stored encrypted under their owner's key."""
