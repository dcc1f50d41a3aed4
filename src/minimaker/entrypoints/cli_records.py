"""`minimaker ropa export`: the record of processing (Art. 30(1)) as json, csv or html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ropa_app = typer.Typer(help="The record of processing activities (Art. 30(1) GDPR).")


@ropa_app.command("export")
def ropa_export(
    format: Annotated[str, typer.Option("--format", help="json, csv or html.")] = "json",
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Print (or write) the record of processing, generated from the policy in force."""
    # Imported here: cli.py registers this app, so a module-level import would be circular.
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings, console
    from minimaker.records import pages, rules
    from minimaker.records import service as records

    fmt = rules.parse_format(format)  # refused before anything is opened
    with container_for(_settings()) as c:
        record = records.record_of_processing(c, by=None)
    text = pages.export(record, fmt)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, "utf-8")
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot write {output}: {exc.strerror}")
        raise typer.Exit(2) from None
    console.print(f"wrote the record of processing ({fmt.value}, {len(record.entries)} purposes)")
