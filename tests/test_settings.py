"""Settings: every one documented, the key file created safely, non-EU regions refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from minimaker.bootstrap import load_master_key
from minimaker.kernel.errors import ConfigurationError
from minimaker.settings import Settings

DOCS = Path(__file__).parent.parent / "docs" / "OPERATIONS.md"


def test_every_setting_has_help_text_and_is_documented_in_operations() -> None:
    text = DOCS.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"MINIMAKER_{name.upper()}" in text, name


def test_a_missing_master_key_creates_a_0600_key_file_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "d", master_key=None)
    with caplog.at_level(logging.WARNING):
        first = load_master_key(settings)
    key_file = tmp_path / "d" / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "master key file" in caplog.text
    assert load_master_key(settings).kek_id == first.kek_id  # reused, not replaced


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=None)
    load_master_key(settings)
    (tmp_path / "master.key").chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        load_master_key(settings)


def test_settings_come_from_the_environment_and_a_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "minimaker.toml"
    config.write_text("max_upload_bytes = 4096\ntoken_ttl_s = 120\n")
    monkeypatch.setenv("MINIMAKER_CONFIG", str(config))
    monkeypatch.setenv("MINIMAKER_TOKEN_TTL_S", "600")
    settings = Settings()
    assert settings.max_upload_bytes == 4096
    assert settings.token_ttl_s == 600  # the environment wins over the file


def test_a_malformed_blob_region_is_refused_by_the_settings() -> None:
    # Whether a region is lawful is the policy's to say (tests/operations/test_residency.py).
    with pytest.raises(ValidationError, match="blob_region"):
        Settings(blob_region="US East 1")
