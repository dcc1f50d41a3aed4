"""Breach detection (policy 5.1, 8; Art. 32(1)(d), 33): rules over the audit stream and over
what is held, whose findings are alerts for the privacy officer, or incidents of the breach
register (through breach/service.py) when they are grave."""
