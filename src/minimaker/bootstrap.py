"""The composition root: reads settings, builds the real adapters and every registry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData

# Every table module, imported here by name: the schema is the union of these and nothing else.
from minimaker.accounts import tables as _accounts_tables
from minimaker.adapters import audit_chain as _audit_tables
from minimaker.adapters import job_queue as _job_tables
from minimaker.adapters.blobs import EncryptedBlobs, LocalBlobStore
from minimaker.adapters.crypto.keys import MasterKey, decode_key, encode_key, generate_key
from minimaker.adapters.db import Base, make_engine, make_sessionmaker
from minimaker.adapters.keystore import KeyStore
from minimaker.adapters.private_files import write_private
from minimaker.generation import tables as _generation_tables
from minimaker.kernel.clock import Clock, SystemClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.kernel.personal_data import Registry as PersonalData
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.registry import Registries
from minimaker.mail import tables as _mail_tables
from minimaker.operations import residency
from minimaker.policy import LoadedPolicy, PolicyRefused, load
from minimaker.publication import tables as _publication_tables
from minimaker.rights import tables as _rights_tables
from minimaker.settings import Settings
from minimaker.staff import tables as _staff_tables
from minimaker.uploads import tables as _upload_tables

log = logging.getLogger("minimaker")


def registries() -> Registries:
    """Every request fulfiller, job handler and periodic duty, by name, in this one place."""
    from minimaker.generation import service as generation
    from minimaker.mail import outbox
    from minimaker.operations import audit_check, sweep
    from minimaker.publication import notify as policy_notice
    from minimaker.rights import (
        access,
        deadlines,
        erasure,
        fulfil,
        objection,
        rectification,
        restriction,
    )
    from minimaker.rights.rules import RequestType

    return Registries(
        fulfillers={
            RequestType.ACCESS: access.fulfil_access,
            RequestType.PORTABILITY: access.fulfil_portability,
            RequestType.RECTIFICATION: rectification.rectify,
            RequestType.ERASURE: erasure.erase,
            RequestType.RESTRICTION: restriction.restrict,
            RequestType.OBJECTION: objection.object_to,
        },
        handlers={
            "generate_model": generation.run_generation_job,
            "fulfil_request": fulfil.run_fulfilment_job,
        },
        duties={
            "deliver_outbox": outbox.deliver_pending,
            "expire_archives": access.expire_archives,
            "alert_overdue": deadlines.alert_overdue,
            "close_unconfirmed": deadlines.close_unconfirmed,
            "sweep_strays": sweep.ScheduledSweep(),
            "anchor_audit": audit_check.take_periodic_checkpoint,
            "notify_policy_change": policy_notice.notify_users,
        },
    )


def anchored_actions() -> frozenset[str]:
    """The audit actions whose commit takes a signed checkpoint at once (staff's always do)."""
    from minimaker.mail import events as mail_events
    from minimaker.operations import events as operations_events
    from minimaker.rights import events as rights_events

    return frozenset(
        str(tag)
        for tag in (
            *operations_events.ANCHORED,
            rights_events.ERASURE_COMPLETED,
            rights_events.ERASURE_REPLAYED,
            mail_events.OUTBOX_FILE_READ,  # the operator reading a message meant for a person
        )
    )


def personal_data() -> PersonalData:
    """Every table holding a subject's data (or seeming to), as each feature declares it."""
    return PersonalData(
        [
            *_accounts_tables.personal_data(),
            *_upload_tables.personal_data(),
            *_generation_tables.personal_data(),
            *_rights_tables.personal_data(),
            *_mail_tables.personal_data(),
            *_job_tables.personal_data(),
            *_staff_tables.personal_data(),
            *_publication_tables.personal_data(),
            *_audit_tables.personal_data(),
        ]
    )


def metadata() -> MetaData:
    """The data database's schema: every table of every feature (imported above)."""
    return Base.metadata


def load_master_key(settings: Settings) -> MasterKey:
    """The master key from the environment, else the local key file (created 0600)."""
    if settings.master_key:
        return MasterKey(decode_key(settings.master_key))
    path = settings.resolved_master_key_file()
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigurationError(f"key file {path} is readable by others (mode {mode:o})")
        return MasterKey(decode_key(path.read_text()))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Never replaces a key file another process made meanwhile (FileExistsError instead).
    write_private(path, (encode_key(generate_key()) + "\n").encode("ascii"), replace=False)
    log.warning(
        "!!! No MINIMAKER_MASTER_KEY set: created a local master key file at %s (mode 0600). "
        "Fine for development; in production keep the master key outside the data directory "
        "and back it up apart from the data: lose it and every user's data is unreadable. !!!",
        path,
    )
    return MasterKey(decode_key(path.read_text()))


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Build the container for `settings`; no I/O happens before this is called."""
    policy_doc = policy_in_force(settings)
    # Policy 10.1, 10.2: refused before any file, database or key store is opened or made.
    residency.refuse_unlawful_stores(settings, policy_doc.policy)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.resolved_database_url())
    key_engine = make_engine(settings.resolved_keystore_url())
    master = load_master_key(settings)
    store = LocalBlobStore(settings.blob_dir, region=settings.blob_region)
    return Container(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        master=master,
        key_engine=key_engine,
        keys=KeyStore(make_sessionmaker(key_engine), master),
        blobs=EncryptedBlobs(store),
        clock=clock or SystemClock(),
        registries=registries(),
        personal_data=personal_data(),
        anchored_actions=anchored_actions(),
        policy_doc=policy_doc,
    )


def policy_in_force(settings: Settings) -> LoadedPolicy:
    """The operator's policy file (else the shipped one), held against what the code does.

    The file checks itself (policy/consistency.py); here it is checked against the code: it
    must declare every category the personal-data registry stores, and only purposes the code
    knows how to honour (kernel/purposes.py).
    """
    doc = load(settings.policy_file)
    problems = [
        f"category {name} is stored by the code (personal-data registry) but not declared"
        for name in sorted(personal_data().categories() - set(doc.policy.categories))
    ]
    known = {p.value for p in Purpose}
    problems += [
        f"purpose {name} is not one the code knows ({', '.join(sorted(known))})"
        for name in doc.policy.purposes
        if name not in known
    ]
    if problems:
        raise PolicyRefused(doc.path, problems)
    return doc


@contextmanager
def container_for(settings: Settings) -> Iterator[Container]:
    """Build a container and dispose of it afterwards (CLI commands, tests)."""
    c = build(settings)
    try:
        yield c
    finally:
        c.close()
