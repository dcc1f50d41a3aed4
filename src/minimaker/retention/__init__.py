"""Retention (policy 3.5, 9.1): every rule of the policy file swept by the code's declared
mechanics, in bounded, audited, resumable batches; legal holds; inactive accounts."""
