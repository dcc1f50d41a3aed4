"""`minimaker retention run [--dry-run]`, `hold`, `release`, `holds`: the retention rules
of the policy file applied now, and legal holds (policy 9.1 "unless required by law")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

if TYPE_CHECKING:
    from minimaker.retention.rules import Report

retention_app = typer.Typer(help="Retention: sweep every rule of the policy now; legal holds.")


def _fail(message: str) -> typer.Exit:
    from minimaker.entrypoints.cli import console

    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="Only this rule (repeatable).")
    ] = None,
) -> None:
    """Apply every retention rule of the policy in force, and report per category."""
    # Imported here: cli.py registers this app, so a module-level import would be circular.
    from minimaker.bootstrap import container_for, corpus_offer, expiries
    from minimaker.entrypoints.cli import _settings, console
    from minimaker.retention import service

    with container_for(_settings()) as c:
        known = {name for cat in c.policy.categories.values() for name in cat.rules}
        unknown = sorted(set(rule or ()) - known)
        if unknown:
            raise _fail(f"no such rule in the policy file: {', '.join(unknown)}")
        mechanics = expiries(corpus_offer())
        with Progress(console=console) as progress:
            task = progress.add_task("retention", total=len(mechanics))
            seen: set[str] = set()

            def on_batch(line: object) -> None:
                name = getattr(line, "rule", "")
                if name not in seen:
                    seen.add(name)
                    progress.update(task, advance=1, description=f"retention: {name}")

            report = service.run(
                c,
                mechanics,
                dry_run=dry_run,
                rules=frozenset(rule) if rule else None,
                on_batch=on_batch,
            )
            progress.update(task, completed=len(mechanics))
    Console().print(report_table(report))


def report_table(report: Report) -> Table:
    """The run's report: per category and rule, what was (or would be) removed, and held."""
    verb = "would remove" if report.dry_run else "removed"
    table = Table(title=f"Retention ({'dry run' if report.dry_run else 'applied'})")
    for heading in ("category", "rule", "what", verb, "held", "cutoff"):
        table.add_column(heading)
    for r in report.rules:
        table.add_row(
            r.category, r.rule, r.what, str(r.removed), str(r.held), f"{r.cutoff:%Y-%m-%d %H:%M}"
        )
    table.add_row("", "", "total", str(report.removed), str(report.held), "")
    return table


@retention_app.command("hold")
def retention_hold(
    subject: Annotated[str, typer.Argument(help="The subject's id (32 hex digits).")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help="litigation, regulator, law_enforcement or statutory (a code)."
        ),
    ],
    reference: Annotated[
        str, typer.Option("--reference", help="The case or file number (no free text).")
    ],
    rule: Annotated[str, typer.Option("--rule", help="A rule of the policy, or * for all.")] = "*",
) -> None:
    """Suspend a retention rule (or all) for one subject, by law (policy 9.1)."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.kernel.actors import SYSTEM_CLI
    from minimaker.kernel.errors import ValidationFailed
    from minimaker.retention import holds

    with container_for(_settings()) as c:
        try:
            hold = holds.set_hold(
                c,
                subject_id=subject,
                rule=rule,
                reason=reason,
                reference=reference,
                actor=SYSTEM_CLI,
            )
        except ValidationFailed as exc:
            raise _fail(str(exc)) from None
    typer.echo(f"hold {hold.id} set on rule {hold.rule} ({hold.reason}, {hold.reference})")


@retention_app.command("release")
def retention_release(
    hold_id: Annotated[str, typer.Argument(help="The hold's id, as `hold` printed it.")],
) -> None:
    """End a legal hold: the subject's data meets its rules again at the next sweep."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.kernel.actors import SYSTEM_CLI
    from minimaker.kernel.errors import NotFound
    from minimaker.retention import holds

    with container_for(_settings()) as c:
        try:
            holds.release_hold(c, hold_id=hold_id, actor=SYSTEM_CLI)
        except NotFound:
            raise _fail("no such hold") from None
    typer.echo(f"hold {hold_id} released")


@retention_app.command("holds")
def retention_holds() -> None:
    """List the legal holds in force."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.retention import holds

    with container_for(_settings()) as c:
        for h in holds.list_holds(c):
            typer.echo(
                f"{h.id} {h.subject_id} {h.rule} {h.reason} {h.reference} {h.set_at:%Y-%m-%d}"
            )
