"""`minimaker ...`: serve, worker, db, keys, audit. Commands parse, call, and print."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress

from minimaker.domain.errors import MiniMakerError
from minimaker.settings import Settings, load_settings

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


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run the embedded job worker.")] = True,
) -> None:
    """Serve the API and web pages; applies pending migrations first."""
    import uvicorn

    from minimaker.api.app import create_app
    from minimaker.bootstrap import build
    from minimaker.store import migrate

    _logging()
    settings = _settings()
    c = build(settings)
    migrate.upgrade_all(c)
    uvicorn.run(
        create_app(c, worker=worker),
        host=host,
        port=port,
        log_level="info",
        access_log=settings.access_log,
    )


@app.command("worker")
def worker_cmd(
    once: Annotated[bool, typer.Option(help="Run due jobs, then exit.")] = False,
) -> None:
    """Run a standalone job worker (as many processes as you like)."""
    from minimaker.bootstrap import build
    from minimaker.jobs.worker import Worker

    _logging()
    c = build(_settings())
    w = Worker(c)
    if once:
        console.print(f"ran {w.run_until_idle()} jobs")
        return
    try:
        w.run_forever()
    except KeyboardInterrupt:
        w.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from minimaker.bootstrap import build
    from minimaker.store import migrate

    c = build(_settings())
    todo = migrate.pending(c.engine)
    migrate.upgrade_all(c)
    console.print(f"applied {len(todo)} migration(s); database is at head")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a fresh master key (32 random bytes, URL-safe base64) for MINIMAKER_MASTER_KEY."""
    from minimaker.crypto.keys import encode_key, generate_key

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
    from minimaker.bootstrap import build
    from minimaker.crypto.keys import MasterKey, decode_key, encode_key, generate_key

    settings = _settings()
    c = build(settings)
    if new_key is None and settings.master_key:
        console.print("[red]MINIMAKER_MASTER_KEY is set: pass the new key with --new-key[/red]")
        raise typer.Exit(2)
    raw = decode_key(new_key) if new_key else generate_key()
    new = MasterKey(raw)
    key_file = settings.resolved_master_key_file()
    pending = key_file.with_name(key_file.name + ".next")
    if new_key is None:
        # Written before anything is re-wrapped: a crash mid-way leaves the new key on disk.
        _write_key_file(pending, encode_key(raw))
    with Progress(console=console) as progress:
        task = progress.add_task("re-wrapping data keys", total=None)
        count = c.keys.rotate_master(
            new, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    if new_key is None:
        os.replace(pending, key_file)
    console.print(f"re-wrapped {count} data key(s); new master key id {new.kek_id}")
    if new_key:
        console.print("now set MINIMAKER_MASTER_KEY to the new key and restart every process")


def _write_key_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the whole audit chain; exit 1 at the first edited, missing or reordered entry."""
    from minimaker.bootstrap import build
    from minimaker.domain.errors import AuditChainBroken
    from minimaker.store import audit

    c = build(_settings())
    with Progress(console=console) as progress:
        task = progress.add_task("verifying audit chain", total=None)
        try:
            report = audit.verify(c.engine, progress=lambda n: progress.update(task, completed=n))
        except AuditChainBroken as exc:
            console.print(f"[red]FAILED:[/red] {exc.message}")
            raise typer.Exit(1) from exc
    typer.echo(f"audit chain intact: {report.entries} entries, head {report.head_hash}")


def main() -> None:
    """Console entry point: our errors become one clear line and exit code 2."""
    try:
        app()
    except MiniMakerError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
