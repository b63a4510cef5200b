"""Fixtures shared by the configuration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder, the working directory, holding `flows/appointment.yaml` and `parcel`."""
    (tmp_path / "flows").mkdir()
    for name in ("appointment", "parcel"):
        (tmp_path / "flows" / f"{name}.yaml").write_text(f"flow: {name}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path
