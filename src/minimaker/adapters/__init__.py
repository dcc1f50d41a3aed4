"""Mechanisms named after themselves, behind their protocols.

Database and migrations, blob store, key store, audit chain, job queue, mailers, crypto,
private files, tokens. No adapter imports a feature.
"""
