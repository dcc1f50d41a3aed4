"""Policy versions (policy 12): publishing each version, telling users of a significant one,
and recording their acknowledgements."""
