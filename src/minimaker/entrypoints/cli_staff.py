"""`minimaker staff create|list|disable|grant|train`: staff accounts, roles, terms, training.

The operator at the command line holds the database itself, so these act as the operator
(`by=None`); every change is audited like an admin's (staff events).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import typer

from minimaker.kernel.errors import ValidationFailed

staff_app = typer.Typer(help="Staff accounts (dpo, support, admin, engineer, contractor).")

_EXPIRES_HELP = "A contractor's last day of access (YYYY-MM-DD, UTC); required for contractors."


def _end_of(day: str | None, option: str) -> datetime | None:
    """The moment a stated last day ends (midnight UTC after it); None when not given."""
    if day is None:
        return None
    try:
        # The day after 9999-12-31 overflows: as much a non-date as 2024-02-30 is.
        after = date.fromisoformat(day) + timedelta(days=1)
    except (ValueError, OverflowError):
        raise ValidationFailed(option, "must be a date, YYYY-MM-DD") from None
    return datetime.combine(after, time(), tzinfo=UTC)


def _day(day: str | None, option: str) -> datetime | None:
    if day is None:
        return None
    end = _end_of(day, option)
    assert end is not None
    return end - timedelta(days=1)


def _print(member: object) -> None:
    from minimaker.staff.service import StaffRead

    assert isinstance(member, StaffRead)
    term = (
        f"  access until {member.access_expires_at:%Y-%m-%d %H:%M}"
        if member.access_expires_at
        else ""
    )
    trained = (
        f"  trained until {member.training_expires_at:%Y-%m-%d}"
        if member.training_expires_at
        else "  not trained"
    )
    typer.echo(f"{member.id}  {member.role}{term}{trained}")


@staff_app.command("create")
def staff_create(
    username: Annotated[str, typer.Option(help="The staff member's sign-in name.")],
    role: Annotated[str, typer.Option(help="dpo, support, admin, engineer or contractor.")],
    password: Annotated[
        str,
        typer.Option(
            envvar="MINIMAKER_STAFF_PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            hidden=True,  # typed at the prompt or set in the environment, never in argv
            help="The password; prompted for unless MINIMAKER_STAFF_PASSWORD is set.",
        ),
    ],
    expires: Annotated[str | None, typer.Option(help=_EXPIRES_HELP)] = None,
) -> None:
    """Create a staff account with one role (the first admin is made here)."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.staff import service as staff

    term = _end_of(expires, "expires")
    with container_for(_settings()) as c:
        member = staff.create_staff(
            c, by=None, username=username, password=password, role=role, access_expires=term
        )
    typer.echo(f"created staff {member.id} ({member.role})")


@staff_app.command("list")
def staff_list() -> None:
    """List staff accounts: id, role, username, created, disabled or active, term, training."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.staff import service as staff

    with container_for(_settings()) as c:
        members = staff.list_staff(c, by=None)
    for m in members:
        disabled = f"disabled {m.disabled_at:%Y-%m-%d}" if m.disabled_at else "active"
        extra = f"  until {m.access_expires_at:%Y-%m-%d}" if m.access_expires_at else ""
        trained = f"  trained to {m.training_expires_at:%Y-%m-%d}" if m.training_expires_at else ""
        typer.echo(
            f"{m.id}  {m.role:<10} {m.username:<32} {m.created_at:%Y-%m-%d}  "
            f"{disabled}{extra}{trained}"
        )


@staff_app.command("disable")
def staff_disable(
    staff_id: Annotated[str, typer.Argument(help="The staff id to disable.")],
) -> None:
    """Disable a staff account; its sessions end at once."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.staff import service as staff

    with container_for(_settings()) as c:
        member = staff.disable_staff(c, by=None, staff_id=staff_id)
    typer.echo(f"disabled staff {member.id}")


@staff_app.command("grant")
def staff_grant(
    staff_id: Annotated[str, typer.Argument(help="The staff id.")],
    role: Annotated[str | None, typer.Option(help="The new role.")] = None,
    expires: Annotated[str | None, typer.Option(help=_EXPIRES_HELP)] = None,
) -> None:
    """Change a member's role, or extend a contractor's access to a new last day."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.staff import training

    if role is None and expires is None:
        raise ValidationFailed("grant", "give --role, --expires or both")
    term = _end_of(expires, "expires")
    with container_for(_settings()) as c:
        member = training.grant(c, by=None, staff_id=staff_id, role=role, access_expires=term)
    _print(member)


@staff_app.command("train")
def staff_train(
    staff_id: Annotated[str, typer.Argument(help="The staff id.")],
    on: Annotated[
        str | None, typer.Option(help="The day the training was completed (default: today).")
    ] = None,
    valid_days: Annotated[
        int, typer.Option(help="How long the training stays current, in days.")
    ] = 365,
) -> None:
    """Record a member's data-protection training (current for a year unless told)."""
    from minimaker.bootstrap import container_for
    from minimaker.entrypoints.cli import _settings
    from minimaker.staff import training

    when = _day(on, "on")
    with container_for(_settings()) as c:
        member = training.record_training(
            c, by=None, staff_id=staff_id, trained_at=when, valid_days=valid_days
        )
    _print(member)
