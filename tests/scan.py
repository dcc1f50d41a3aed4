"""Leak scans: look for personal data in every file under a directory and every table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

WINDOW = 32


def windows(data: bytes, size: int = WINDOW) -> set[bytes]:
    """Every `size`-byte window of `data` (the photo's fingerprint for the scans)."""
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def find_in_bytes(blob: bytes, needles: list[bytes], photo_windows: set[bytes]) -> list[str]:
    hits = [f"needle #{i}" for i, n in enumerate(needles) if n and n in blob]
    if photo_windows:
        for i in range(len(blob) - WINDOW + 1):
            if blob[i : i + WINDOW] in photo_windows:
                hits.append(f"photo window at offset {i}")
                break
    return hits


def scan_files(root: Path, needles: list[bytes], photo_windows: set[bytes]) -> dict[str, list[str]]:
    """Every regular file below `root` (database, WAL, blobs, key files), read raw."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            hits = find_in_bytes(path.read_bytes(), needles, photo_windows)
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def scan_database(
    engine: Engine, needles: list[bytes], photo_windows: set[bytes]
) -> dict[str, list[str]]:
    """Every value of every column of every table, as bytes."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if value is None:
                        continue
                    raw = (
                        bytes(value)
                        if isinstance(value, (bytes, memoryview))
                        else str(value).encode()
                    )
                    hits = find_in_bytes(raw, needles, photo_windows)
                    if hits:
                        found.setdefault(table, []).extend(hits)
    return found


def needles_for(*values: str) -> list[bytes]:
    """A value in the forms it could be stored in: as given, lower and upper case."""
    out: list[bytes] = []
    for v in values:
        for form in {v, v.lower(), v.upper()}:
            out.append(form.encode("utf-8"))
    return out
