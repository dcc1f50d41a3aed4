"""What every feature stands on, importing none of them.

The unit of work, errors, ids, clock, actors, purposes, the personal-data registry, and the
registries of request fulfillers, job handlers and periodic duties.
"""
