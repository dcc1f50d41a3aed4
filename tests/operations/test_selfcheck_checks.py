"""The self-check's checks of the settings (TLS, debug) and its reading of pip-audit's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minimaker.entrypoints.serving import checked_tls_files
from minimaker.operations import selfcheck_dependencies
from minimaker.operations.selfcheck_checks import Status, debug, tls
from minimaker.settings import Settings


def plain(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, Status.PASS),  # http://127.0.0.1:8000: loopback
        ({"public_url": "http://localhost:8000"}, Status.PASS),
        ({"public_url": "http://192.0.2.10:8000"}, Status.FAIL),
        ({"public_url": "http://minimaker.example.org"}, Status.FAIL),
        ({"public_url": "https://minimaker.example.org"}, Status.WARN),
        (
            {"public_url": "https://minimaker.example.org", "trusted_proxies": "10.0.0.1"},
            Status.PASS,
        ),
        (
            {"public_url": "http://minimaker.example.org", "trusted_proxies": "10.0.0.1"},
            Status.WARN,
        ),
    ],
)
def test_tls_is_judged_as_serve_decides(
    tmp_path: Path, values: dict[str, object], expected: Status
) -> None:
    assert tls(plain(tmp_path, **values), checked_tls_files).status is expected


def test_tls_files_that_do_not_hold_fail(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    check = tls(plain(tmp_path, tls_cert=cert, tls_key=tmp_path / "none.pem"), checked_tls_files)
    assert check.status is Status.FAIL
    assert "not a PEM certificate" in check.message


def test_the_access_log_is_a_debug_warning(tmp_path: Path) -> None:
    assert debug(plain(tmp_path)).status is Status.PASS
    assert debug(plain(tmp_path, access_log=True)).status is Status.WARN


def report(*deps: dict[str, object]) -> str:
    return json.dumps({"dependencies": list(deps), "fixes": []})


def test_pip_audit_vulnerabilities_fail_by_package_and_advisory() -> None:
    out = report(
        {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217"}]},
        {"name": "rich", "version": "13.7.0", "vulns": []},
    )
    check = selfcheck_dependencies.verdict(1, out, "")
    assert check.status is Status.FAIL
    assert check.message == "1 known vulnerabilities: jinja2 2.10 PYSEC-2019-217"


def test_pip_audit_with_nothing_found_passes() -> None:
    out = report({"name": "rich", "version": "13.7.0", "vulns": []})
    assert selfcheck_dependencies.verdict(0, out, "").status is Status.PASS


def test_pip_audit_that_reached_no_advisory_is_skipped_not_passed() -> None:
    out = report(
        {"name": "rich", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    )
    check = selfcheck_dependencies.verdict(0, out, "")
    assert check.status is Status.SKIPPED


def test_pip_audit_that_could_not_run_is_skipped_with_its_reason() -> None:
    check = selfcheck_dependencies.verdict(1, "", "ConnectionError: no route to host\n")
    assert check.status is Status.SKIPPED
    assert "no route to host" in check.message


def test_without_pip_audit_installed_the_check_says_it_was_skipped() -> None:
    assert selfcheck_dependencies.command() is None  # not a dependency of this environment
    check = selfcheck_dependencies.audit_dependencies(5)
    assert check.status is Status.SKIPPED
    assert "pip-audit is not installed" in check.message
