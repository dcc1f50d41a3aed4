"""`minimaker selfcheck [--json]`: the security self-audit of policy 5.1, for cron and CI.

Exit 0 when no check failed, 1 when any did (warnings and skipped checks do not), 2 for a
usage or configuration error. Each run is kept in `selfcheck_runs`; when the service cannot
start (a key file readable by others stops it), the checks that need no database still run
and are printed, and the run is reported as not recorded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from minimaker.kernel.errors import ConfigurationError
from minimaker.operations.selfcheck_checks import Check, Status
from minimaker.settings import Settings

if TYPE_CHECKING:
    from minimaker.operations.selfcheck import RunRead

_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.WARN: "yellow", Status.SKIPPED: "dim"}


def selfcheck(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run as JSON (for cron and CI).")
    ] = False,
) -> None:
    """Check keys, directories, TLS, residency, the audit chain, strays, deadlines,
    retention, training, processors and dependencies; exit 1 if any check failed."""
    # Imported here: cli.py registers this command, so a module-level import would be circular.
    from minimaker.entrypoints.cli import _settings

    settings = _settings()
    run = _run(settings)
    if as_json:
        typer.echo(json.dumps(run.as_dict(), indent=2))
    else:
        Console().print(run_table(run))
    raise typer.Exit(0 if run.passed else 1)


def _run(settings: Settings) -> RunRead:
    from minimaker import bootstrap
    from minimaker.operations import selfcheck as service

    try:
        c = bootstrap.build(settings)
    except ConfigurationError as exc:
        # The service would not start either: say why, beside what the settings alone show.
        checks = _installation(settings)
        checks.append(Check("startup", Status.FAIL, f"the service cannot start: {exc.message}"))
        return service.unrecorded(datetime.now(UTC), service.Trigger.CLI, checks)
    try:
        return service.run_selfcheck(c, service.wired(c), trigger=service.Trigger.CLI)
    finally:
        c.close()


def _installation(settings: Settings) -> list[Check]:
    from minimaker import bootstrap
    from minimaker.operations.selfcheck_checks import installation

    try:
        policy = bootstrap.policy_in_force(settings).policy
    except ConfigurationError:
        return []  # the startup check says why
    return installation(settings, policy, bootstrap.selfcheck_probes().tls_files)


def run_table(run: RunRead) -> Table:
    """The run as a table: one row per check, its status coloured."""
    kept = f"run {run.id}" if run.id else "not recorded"
    verdict = "passed" if run.passed else "FAILED"
    table = Table(title=f"Security self-check {verdict} ({kept}, {run.at:%Y-%m-%d %H:%M} UTC)")
    for heading in ("check", "status", "message"):
        table.add_column(heading, overflow="fold")
    for check in run.checks:
        style = _STYLE[check.status]
        table.add_row(check.name, f"[{style}]{check.status.value}[/{style}]", check.message)
    return table
