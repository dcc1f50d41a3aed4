"""Data-subject rights (policy 6, 13; GDPR Art. 12, 15-21). See README.md beside this file."""
