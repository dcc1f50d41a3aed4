"""`minimaker policy publish|list`: the versions of the data protection policy (policy 12)."""

from __future__ import annotations

import typer

policy_app = typer.Typer(help="Versions of the data protection policy: publish, history.")


@policy_app.command("publish")
def publish() -> None:
    """Publish the policy file's version if it is new (start-up does the same); a significant
    version is then emailed to every user by the workers and asked of them at sign-in."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.publication import service

    with container_for(_settings()) as c:
        done = service.publish_if_new(c)
    kind = "significant" if done.significant else "minor"
    if not done.new:
        typer.echo(
            f"version {done.version} was published on {done.published_at:%Y-%m-%d}: nothing to do"
        )
        return
    typer.echo(f"published version {done.version} ({kind})")
    if done.significant:
        typer.echo("every user will be emailed and asked to acknowledge it at next sign-in")


@policy_app.command("list")
def list_versions() -> None:
    """Every published version, newest first: version, in force from, published, kind, changes."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.publication import service

    with container_for(_settings()) as c:
        versions = service.list_versions(c)
        in_force = c.policy.version
    if not versions:
        typer.echo("no version published yet")
    for v in versions:
        kind = "significant" if v.significant else "minor"
        mark = " *" if v.version == in_force else ""
        typer.echo(
            f"{v.version}{mark}  effective {v.effective:%Y-%m-%d}  "
            f"published {v.published_at:%Y-%m-%d %H:%M}  {kind:<11}  {v.changes}"
        )
