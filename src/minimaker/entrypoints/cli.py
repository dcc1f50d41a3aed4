"""`minimaker ...`: serve, worker, db, keys, audit. Commands parse, call, and print."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.progress import Progress

from minimaker.entrypoints import (
    cli_analytics,
    cli_records,
    cli_retention,
    cli_selfcheck,
    cli_staff,
    serving,
)
from minimaker.entrypoints.cli_policy import policy_app

# Re-exported: the proxy tests read serve's uvicorn options here.
from minimaker.entrypoints.serving import proxy_options as proxy_options
from minimaker.kernel.errors import MiniMakerError
from minimaker.settings import Settings, load_settings

if TYPE_CHECKING:
    from rich.table import Table

    from minimaker.mail.outbox import MessageRead

# Tracebacks with locals would print settings, keys and personal data: never show locals.
app = typer.Typer(
    help="MiniMaker: photo to printable 3D model, privacy kept by construction.",
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema.")
keys_app = typer.Typer(help="Master key and data keys.")
audit_app = typer.Typer(help="The tamper-evident audit log.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(cli_staff.staff_app, name="staff")
outbox_app = typer.Typer(help="Email: queued, sent and failed messages; the outbox folder.")
app.add_typer(outbox_app, name="outbox")
app.add_typer(policy_app, name="policy")
app.add_typer(cli_records.ropa_app, name="ropa")
app.add_typer(cli_retention.retention_app, name="retention")
app.add_typer(cli_analytics.analytics_app, name="analytics")
app.command("selfcheck")(cli_selfcheck.selfcheck)
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        # Name the setting and the rule, never the value: it may be a key.
        for err in exc.errors():
            name = "MINIMAKER_" + "_".join(str(p) for p in err["loc"]).upper()
            console.print(f"[red]configuration error:[/red] {name}: {err['msg']}")
        raise typer.Exit(2) from None


def _logging(log_format: str = "text") -> None:
    """Log lines as text, or one JSON object each (MINIMAKER_LOG_FORMAT=json)."""
    handler = logging.StreamHandler()
    fields = "%(asctime)s %(levelname)s %(name)s %(message)s"
    if log_format == "json":
        handler.setFormatter(JsonFormatter(fields, rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


TlsCert = Annotated[
    Path | None, typer.Option(help="PEM certificate chain: serve HTTPS (MINIMAKER_TLS_CERT).")
]
TlsKey = Annotated[
    Path | None, typer.Option(help="PEM private key of --tls-cert (MINIMAKER_TLS_KEY).")
]
Insecure = Annotated[
    bool, typer.Option(help="Allow plain HTTP on a non-loopback address (trusted network).")
]


ReusePort = Annotated[
    bool,
    typer.Option(
        help="Bind with SO_REUSEPORT: several serve processes share --host:--port and the "
        "kernel spreads connections among them (Linux 3.9 and later)."
    ),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run the embedded job worker. Default: MINIMAKER_EMBEDDED_WORKER (true).",
        ),
    ] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    insecure: Insecure = False,
    reuse_port: ReusePort = False,
) -> None:
    """Serve the API and web pages; applies pending migrations first.

    Plain HTTP only on loopback, behind a declared trusted proxy, or with --insecure."""
    settings = _settings()
    _logging(settings.log_format)
    # Before any socket or database (or the app's imports): a refusal leaves nothing behind.
    tls = serving.listening(settings, host=host, cert=tls_cert, key=tls_key, insecure=insecure)
    # Bound before the database too (a port held without SO_REUSEPORT is refused at once);
    # it listens only once the app has started, so no connection waits on a process booting.
    sock = serving.shared_socket(host, port) if reuse_port else None

    from minimaker.bootstrap import build
    from minimaker.entrypoints.app import create_app
    from minimaker.operations import startup

    c = build(settings)
    log_replayed(startup.prepare(c).replayed)
    serving.run(create_app(c, worker=worker), settings, tls, host=host, port=port, sock=sock)


@app.command("worker")
def worker_cmd(
    once: Annotated[bool, typer.Option(help="Run due jobs, then exit.")] = False,
) -> None:
    """Run a standalone job worker (as many processes as you like)."""
    from minimaker.bootstrap import build
    from minimaker.entrypoints.worker import Worker
    from minimaker.operations import startup

    settings = _settings()
    _logging(settings.log_format)
    c = build(settings)
    try:
        # A worker delivers mail and writes blobs: the same refusals as serve's, before any job.
        startup.refuse_unlawful_places(c)
        w = Worker(c)
        if once:
            console.print(f"ran {w.run_until_idle()} jobs")
            return
        logging.getLogger("minimaker.worker").info(
            "polling for jobs every %s s", settings.worker_poll_s
        )
        try:
            w.run_forever()
        except KeyboardInterrupt:
            w.stop()
    finally:
        c.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from minimaker.bootstrap import container_for
    from minimaker.operations import startup

    with container_for(_settings()) as c:
        applied = startup.upgrade_schemas(c)
    console.print(f"applied {applied} migration(s); database is at head")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a fresh master key (32 random bytes, URL-safe base64) for MINIMAKER_MASTER_KEY."""
    from minimaker.adapters.crypto.keys import encode_key, generate_key

    typer.echo(encode_key(generate_key()))


@keys_app.command("rotate-master")
def keys_rotate_master(
    new_key: Annotated[
        str | None,
        typer.Option(
            envvar="MINIMAKER_NEW_MASTER_KEY",
            help="The new master key; default: generate one and write it to the key file.",
        ),
    ] = None,
) -> None:
    """Re-wrap every data key under a new master key; blobs are not touched."""
    from minimaker.adapters.crypto.keys import decode_key
    from minimaker.bootstrap import container_for
    from minimaker.operations import key_rotation

    raw = decode_key(new_key) if new_key else None
    try:
        with container_for(_settings()) as c, Progress(console=console) as progress:
            task = progress.add_task("re-wrapping data keys", total=None)
            report = key_rotation.rotate_master_key(
                c,
                new_key=raw,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except key_rotation.NewKeyRequired:
        console.print("[red]MINIMAKER_MASTER_KEY is set: pass the new key with --new-key[/red]")
        raise typer.Exit(2) from None
    console.print(f"re-wrapped {report.data_keys} data key(s); new master key id {report.kek_id}")
    if report.key_file is None:
        console.print("now set MINIMAKER_MASTER_KEY to the new key and restart every process")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit chain and hold it against every signed checkpoint; exit 1 on any finding."""
    from minimaker.bootstrap import container_for
    from minimaker.operations import audit_check

    with container_for(_settings()) as c, Progress(console=console) as progress:
        task = progress.add_task("verifying audit chain", total=None)
        verdict = audit_check.verify_audit(c, progress=lambda n: progress.update(task, completed=n))
    for note in verdict.notes:
        console.print(f"note: {note}")
    for cp in verdict.restores:
        console.print(
            f"recorded restore: checkpoint {cp.n} restored {cp.restored} entries "
            f"(the chain had been checkpointed at {cp.replaced})"
        )
    if not verdict.ok:
        for finding in verdict.findings:
            console.print(f"[red]FAILED ({finding.kind}):[/red] {finding.message}")
        console.print(f"{verdict.unanchored} entries after the last checkpoint that holds")
        raise typer.Exit(1)
    typer.echo(
        f"audit chain intact: {verdict.entries} entries, head {verdict.head_hash}; "
        f"{len(verdict.checkpoints)} checkpoints hold, {verdict.unanchored} entries unanchored"
    )


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the audit chain now (the workers also do, every periodic tick)."""
    from minimaker.bootstrap import container_for
    from minimaker.operations import audit_check

    with container_for(_settings()) as c:
        taken = audit_check.take_periodic_checkpoint(c)
    typer.echo("checkpoint taken" if taken else "nothing new since the last checkpoint")


@outbox_app.command("list")
def outbox_list(
    show: Annotated[
        str | None,
        typer.Option("--show", help="Print one message file of the outbox folder, then remove it."),
    ] = None,
    keep: Annotated[bool, typer.Option(help="With --show: keep the file once shown.")] = False,
    limit: Annotated[int, typer.Option(help="Show at most this many messages.")] = 200,
) -> None:
    """List outbox messages (never their content) and the files waiting in the outbox folder.

    The files are sealed; `--show ID` opens one for you to forward, and removes it.
    """
    from minimaker.bootstrap import container_for
    from minimaker.mail import outbox

    with container_for(_settings()) as c:
        if show is not None:
            typer.echo(outbox.show_file(c, message_id=show, keep=keep), nl=False)
            if not keep:
                console.print(f"removed the message file {show}.mail (shown once)")
            return
        overview = outbox.overview(c, limit=limit)
    out = Console()
    out.print(_messages_table(overview.messages))
    if overview.sealed_legacy:
        out.print(f"sealed {overview.sealed_legacy} plaintext file(s) of an earlier version")
    out.print(f"{len(overview.files)} message file(s) in {overview.folder}, sealed:")
    for f in overview.files:
        out.print(f"  {f.message_id}.mail  {f.size_bytes} bytes")


def _messages_table(messages: list[MessageRead]) -> Table:
    from rich.table import Table

    table = Table(title=f"outbox: {len(messages)} message(s), newest first")
    for column in ("id", "kind", "status", "created", "sent", "attempts", "error"):
        table.add_column(column, no_wrap=column == "id")
    for m in messages:
        sent = (
            f"{m.sent_at:%Y-%m-%d %H:%M:%S}"
            if m.sent_at
            else f"next try {m.next_attempt_at:%H:%M:%S}"
            if m.next_attempt_at
            else ""
        )
        table.add_row(
            m.id,
            m.kind,
            m.status,
            f"{m.created_at:%Y-%m-%d %H:%M:%S}",
            sent,
            str(m.attempts),
            m.last_error or "",
        )
    return table


backup_app = typer.Typer(
    help="Backups of the data database and blobs. WARNING: a backup holds personal data "
    "(encrypted, but personal all the same): keep it as safely as the database itself."
)
app.add_typer(backup_app, name="backup")


def log_replayed(count: int) -> None:
    """Say how many erased subjects had rows again (counts only: ids are pseudonymous)."""
    if count:
        console.print(f"re-erased {count} subject(s) named in the erasure ledger")


@backup_app.command("create")
def backup_create(
    path: Annotated[Path, typer.Argument(help="The tar file to write (mode 0600).")],
) -> None:
    """Write a backup: every row of the data database and every blob, as stored (ciphertext).

    WARNING: the file holds personal data. It is written with mode 0600; store it encrypted
    and access-controlled. Data keys are not in it (they stay in the key store), so a subject
    erased later cannot be brought back by restoring it.
    """
    from minimaker.bootstrap import container_for
    from minimaker.operations import backup

    with container_for(_settings()) as c:
        report = backup.create_backup(c, path)
    rows = sum(report.tables.values())
    console.print(
        f"backup written: {rows} row(s) in {len(report.tables)} tables, {report.blobs} blob(s)"
    )


@backup_app.command("restore")
def backup_restore(
    path: Annotated[Path, typer.Argument(help="The backup tar file to restore.")],
    replace_audit_chain: Annotated[
        bool,
        typer.Option(
            help="Restore even if this database's audit chain does not continue the "
            "backup's; that chain's entries are then lost (the report counts them)."
        ),
    ] = False,
) -> None:
    """Put back a backup's rows and blobs; keep every request, mail state and audit entry
    recorded since; re-erase whom the ledger names; report what was rolled back.

    Stop every MiniMaker process first. The backup holds personal data: see `backup create`.
    """
    from minimaker.bootstrap import container_for
    from minimaker.operations import restore

    with container_for(_settings()) as c:
        report = restore.restore_backup(c, path, replace_chain=replace_audit_chain)
    for line in report.summary():
        console.print(line, markup=False, highlight=False)
    log_replayed(report.replayed)


def main() -> None:
    """Console entry point: our errors become one clear line and exit code 2."""
    try:
        app()
    except MiniMakerError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
