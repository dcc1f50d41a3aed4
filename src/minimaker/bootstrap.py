"""The composition root: reads settings, builds the real adapters and every registry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import MetaData

# Every table module, imported here by name: the schema is the union of these and nothing else.
from minimaker.accounts import tables as _accounts_tables
from minimaker.adapters import audit_chain as _audit_tables
from minimaker.adapters import duty_leases as _duty_tables
from minimaker.adapters import job_queue as _job_tables
from minimaker.adapters.blobs import BlobStore, EncryptedBlobs, LocalBlobStore
from minimaker.adapters.crypto.keys import MasterKey, decode_key, encode_key, generate_key
from minimaker.adapters.db import Base, make_engine, make_sessionmaker
from minimaker.adapters.keystore import KeyStore
from minimaker.adapters.private_files import write_private
from minimaker.analytics import tables as _analytics_tables
from minimaker.breach import tables as _breach_tables
from minimaker.corpus import tables as _corpus_tables
from minimaker.detection import tables as _detection_tables
from minimaker.generation import tables as _generation_tables
from minimaker.kernel.clock import Clock, SystemClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.kernel.personal_data import Registry as PersonalData
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.registry import Fulfiller, Registries
from minimaker.kernel.retention import Expiry, Offer
from minimaker.mail import tables as _mail_tables
from minimaker.operations import residency
from minimaker.operations import tables as _operations_tables
from minimaker.policy import LoadedPolicy, PolicyRefused, load
from minimaker.publication import tables as _publication_tables
from minimaker.retention import tables as _retention_tables
from minimaker.rights import tables as _rights_tables
from minimaker.settings import Settings
from minimaker.staff import tables as _staff_tables
from minimaker.uploads import tables as _upload_tables

if TYPE_CHECKING:
    from minimaker.operations.selfcheck import Probes

log = logging.getLogger("minimaker")


def registries() -> Registries:
    """Every request fulfiller, job handler and periodic duty, by name, in this one place."""
    from minimaker.analytics import service as analytics
    from minimaker.corpus import service as corpus
    from minimaker.detection import service as detection
    from minimaker.generation import service as generation
    from minimaker.mail import outbox
    from minimaker.operations import audit_check, selfcheck, sweep
    from minimaker.publication import notify as policy_notice
    from minimaker.retention import service as retention
    from minimaker.rights import deadlines, fulfil

    return Registries(
        fulfillers=_fulfillers(),
        handlers={
            "generate_model": generation.run_generation_job,
            "fulfil_request": fulfil.run_fulfilment_job,
        },
        duties={
            "deliver_outbox": outbox.deliver_pending,
            "retention": retention.ScheduledRetention(expiries(corpus_offer())),
            "alert_overdue": deadlines.alert_overdue,
            "close_unconfirmed": deadlines.close_unconfirmed,
            "sweep_strays": sweep.ScheduledSweep(),
            "anchor_audit": audit_check.take_periodic_checkpoint,
            "notify_policy_change": policy_notice.notify_users,
            "admit_corpus_batch": corpus.admit_staged,
            "publish_analytics": analytics.publish_due,
            "selfcheck": selfcheck.ScheduledSelfcheck(selfcheck_probes()),
            "detect": detection.run_detection,
        },
        # Each of these lists or sweeps a whole store: once per its own interval, fleet-wide.
        intervals={
            "retention": "retention_interval_s",
            "sweep_strays": "sweep_interval_s",
            "selfcheck": "selfcheck_interval_s",
        },
    )


def selfcheck_probes() -> Probes:
    """What the security self-check needs of other rooms: retention's mechanics (its backlog,
    counted by a dry run) and serve's own check of the TLS files."""
    from minimaker.entrypoints.serving import checked_tls_files
    from minimaker.operations.selfcheck import Probes

    return Probes(expiries=expiries(), tls_files=checked_tls_files)


def _fulfillers() -> dict[str, Fulfiller]:
    """The use case that fulfils each type of rights request."""
    from minimaker.rights import access, erasure, objection, rectification, restriction
    from minimaker.rights.rules import RequestType

    return {
        RequestType.ACCESS: access.fulfil_access,
        RequestType.PORTABILITY: access.fulfil_portability,
        RequestType.RECTIFICATION: rectification.rectify,
        RequestType.ERASURE: erasure.erase,
        RequestType.RESTRICTION: restriction.restrict,
        RequestType.OBJECTION: objection.object_to,
    }


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
            *_duty_tables.personal_data(),
            *_staff_tables.personal_data(),
            *_publication_tables.personal_data(),
            *_audit_tables.personal_data(),
            *_retention_tables.personal_data(),
            *_corpus_tables.personal_data(),
            *_analytics_tables.personal_data(),
            *_breach_tables.personal_data(),
            *_operations_tables.personal_data(),
            *_detection_tables.personal_data(),
        ]
    )


def expiries(offer: Offer | None = None) -> tuple[Expiry, ...]:
    """The mechanics of every timed retention rule, as each feature declares them; photos and
    models are offered to `offer` (the training corpus's, policy 9.2) before they go."""
    from minimaker.accounts import expiry as accounts
    from minimaker.generation import expiry as generation
    from minimaker.mail import expiry as mail
    from minimaker.retention import expiries as infrastructure
    from minimaker.retention import inactivity
    from minimaker.retention.service import wired
    from minimaker.rights import expiry as rights
    from minimaker.staff import expiry as staff
    from minimaker.uploads import expiry as uploads

    declared = (
        *accounts.expiries(),
        *inactivity.expiries(),
        *uploads.expiries(),
        *generation.expiries(),
        *rights.expiries(),
        *mail.expiries(),
        *staff.expiries(),
        *infrastructure.expiries(),
    )
    return wired(declared, offer)


def corpus_offer() -> Offer:
    """What photos and models are offered to before retention removes them (policy 9.2): the
    training corpus's `prepare` (outside the write unit) and `stage` (in it), as the user's
    own deletes offer them."""
    from minimaker.corpus import service as corpus

    return Offer(
        prepare=corpus.prepare, stage=corpus.stage, discard=corpus.discard, wanted=corpus.wanted
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


def blob_store(settings: Settings) -> BlobStore:
    """The store MINIMAKER_BLOB_URL names (an S3 bucket), else the local blob directory."""
    if not settings.blob_url:
        return LocalBlobStore(settings.blob_dir, region=settings.blob_region)
    from minimaker.adapters.blobs_s3 import S3BlobStore  # boto3 is loaded only when used
    from minimaker.adapters.s3_location import S3Location

    access, secret = settings.s3_access_key, settings.s3_secret_key
    return S3BlobStore(
        S3Location.from_url(settings.blob_url),
        access_key=access.get_secret_value() if access else None,
        secret_key=secret.get_secret_value() if secret else None,
    )


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Build the container for `settings`; no I/O happens before this is called."""
    policy_doc = policy_in_force(settings)
    # Policy 10.1, 10.2: refused before any file, database or key store is opened or made.
    residency.refuse_unlawful_stores(settings, policy_doc.policy)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.resolved_database_url())
    key_engine = make_engine(settings.resolved_keystore_url())
    master = load_master_key(settings)
    store = blob_store(settings)
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
    from minimaker.retention.service import mismatches

    # Policy 3.5: a rule the code does not sweep, or a sweep no rule orders, is refused.
    problems += mismatches(doc.policy, expiries(), settings)
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
