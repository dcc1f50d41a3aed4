"""Breach response (policy 8; Art. 33-34): the incident register, scoping from our own records."""
