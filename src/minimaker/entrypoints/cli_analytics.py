"""`minimaker analytics publish --day YYYY-MM-DD`, `publications`: a day's anonymous usage
aggregates sent now (policy 4.2, 7.3), and the record of what each publication spent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from minimaker.analytics.tables import Publication

analytics_app = typer.Typer(help="Anonymous usage aggregates: publish a day; what was spent.")


def _fail(message: str) -> typer.Exit:
    from minimaker.entrypoints.cli import console

    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@analytics_app.command("publish")
def analytics_publish(
    day: Annotated[
        str, typer.Option("--day", help="The UTC day to publish, YYYY-MM-DD (a complete day).")
    ],
) -> None:
    """Publish one day's k-suppressed, noised usage aggregates to the analytics provider."""
    # Imported here: cli.py registers this app, so a module-level import would be circular.
    from minimaker.analytics import rules, service
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.kernel.actors import SYSTEM_CLI
    from minimaker.kernel.errors import MiniMakerError

    try:
        wanted = rules.parse_day(day)
    except rules.DayRefused as exc:
        raise _fail(exc.message) from None
    with container_for(_settings()) as c:
        try:
            done = service.publish_day(c, wanted, actor=SYSTEM_CLI)
        except MiniMakerError as exc:
            raise _fail(exc.message) from None
        spent = service.spent_on(c, wanted)
    state = "sent" if done.sent else "nothing to send (every cell below k)"
    typer.echo(
        f"publication {done.id} of {done.day.isoformat()}: {state}; {done.rows} row(s), "
        f"{done.suppressed} suppressed; epsilon {done.epsilon:g} "
        f"(day: {spent:g} of {c.settings.analytics_day_budget:g})"
    )


@analytics_app.command("publications")
def analytics_publications(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="At most this many.")
    ] = 100,
) -> None:
    """List the latest publications: day, epsilon, noise, k, cap, rows, sent."""
    from minimaker.analytics import service
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings

    with container_for(_settings()) as c:
        found = service.list_publications(c, limit=limit)
    Console().print(publications_table(found))


def publications_table(found: list[Publication]) -> Table:
    """One line per publication, newest day first."""
    table = Table(title="Analytics publications")
    headings = ("id", "day", "#", "epsilon", "noise scales", "mechanism", "k", "cap")
    for heading in (*headings, "rows", "suppressed", "published at", "sent"):
        table.add_column(heading)
    for p in found:
        table.add_row(
            str(p.id),
            p.day.isoformat(),
            str(p.seq),
            f"{p.epsilon:g}",
            f"{p.people_scale:g} / {p.events_scale:g}",
            p.mechanism,
            str(p.k),
            str(p.cap),
            str(p.rows),
            str(p.suppressed),
            f"{p.published_at:%Y-%m-%d %H:%M}",
            "yes" if p.sent else "no",
        )
    return table
