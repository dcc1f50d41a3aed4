"""The anonymous training corpus (policy 9.2): copies with no way back to the person."""
