"""argon2id parameters come from settings; older hashes are upgraded at the next sign-in."""

from __future__ import annotations

from sqlalchemy import select

from minimaker.accounts import passwords
from minimaker.accounts import service as accounts
from minimaker.accounts.tables import User
from minimaker.bootstrap import build
from minimaker.kernel.container import Container
from minimaker.settings import Settings


def test_hashes_are_argon2id_with_the_configured_parameters(settings: Settings) -> None:
    stored = passwords.hash_password(settings, "correct horse battery")
    assert stored.startswith("$argon2id$")
    assert f"m={settings.argon2_memory_kib},t={settings.argon2_time_cost}" in stored
    assert passwords.password_ok(settings, stored, "correct horse battery")
    assert not passwords.password_ok(settings, stored, "wrong horse battery")
    assert not passwords.password_ok(settings, None, "correct horse battery")
    assert not passwords.password_ok(settings, "not a hash", "correct horse battery")


def test_a_sign_in_upgrades_a_hash_made_with_weaker_parameters(
    container: Container, settings: Settings
) -> None:
    accounts.signup(
        container,
        name="Old Hash",
        email="old@example.org",
        username="oldhash",
        password="a password from before",
    )
    stronger = build(settings.model_copy(update={"argon2_time_cost": 2}), clock=container.clock)
    try:
        accounts.login(
            stronger, login="oldhash", password="a password from before", client_ip="::1"
        )
        with stronger.sessions() as s:
            stored = s.scalars(select(User.password_hash)).one()
        assert ",t=2," in stored
        assert not passwords.needs_rehash(stronger.settings, stored)
    finally:
        stronger.close()
