"""Where scenarios live: ``$VRAMTUI_HOME`` if set, else the platform's user data folder."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path


def scenarios_dir() -> Path:
    home = os.environ.get("VRAMTUI_HOME")
    base = Path(home).expanduser() if home else user_data_path("vramtui", appauthor=False)
    return base / "scenarios"


def scenario_files() -> list[Path]:
    folder = scenarios_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.toml") if p.is_file())


def scenario_path(text: str) -> Path:
    """What Save and Open both make of a name: ``ux70b`` is ``ux70b.toml`` in the scenarios folder;
    a path (with a folder, or ending in .toml) is that path."""
    path = Path(text.strip()).expanduser()
    if path.suffix != ".toml":
        path = path.with_name(path.name + ".toml")
    if not path.is_absolute() and len(path.parts) == 1:
        path = scenarios_dir() / path
    return path
