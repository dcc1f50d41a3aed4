"""The record of processing activities (Art. 30(1)): generated from the policy and registry."""
