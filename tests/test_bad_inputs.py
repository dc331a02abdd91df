"""Every bad scenario gets a clear error naming the key path, from the CLI (exit 2, one line, no
traceback) and from the TUI (a message under the summary; the current scenario unchanged)."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest

from vramtui.cli import main
from vramtui.core.io import ScenarioError, load_scenario
from vramtui.tui.app import VramApp

from .tui.helpers import summary_part

CORPUS = Path(__file__).parent / "data" / "bad_scenarios"
EXPECTED: dict[str, str] = tomllib.loads((CORPUS / "expected.toml").read_text())


def test_every_corpus_file_has_an_expectation():
    files = {p.name for p in CORPUS.glob("*.toml")} - {"expected.toml"}
    assert files == set(EXPECTED)
    assert len(files) >= 40


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_rejects_with_one_line(name, capsys):
    path = CORPUS / name
    assert main(["estimate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: ")
    assert EXPECTED[name] in err


async def test_tui_shows_every_error_and_keeps_the_scenario():
    app = VramApp()
    async with app.run_test(size=(120, 40)) as pilot:
        before = app.scenario
        for name in sorted(EXPECTED):
            assert not app.open_path(CORPUS / name)
            await pilot.pause()
            assert app.scenario == before
            assert EXPECTED[name] in summary_part(pilot, "status"), name


async def test_tui_failed_save_tells_the_user_and_keeps_the_old_file(monkeypatch):
    import tempfile

    app = VramApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"kept", "enter")
        await pilot.pause()
        path = app.path
        before = path.read_bytes()
        await pilot.press("ctrl+up")  # a change worth saving

        def read_only(*_a, **_k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "could not save: Permission denied; the existing file is unchanged" in summary_part(pilot, "status")
        assert path.read_bytes() == before and "modified" in app.title


def special_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp_path / "a-folder.toml"
    folder.mkdir()
    big = tmp_path / "big.toml"
    with big.open("wb") as fh:  # 50 MB of comments: never read into memory past the limit
        fh.write(b"# x\n" * (50 * 1024 * 1024 // 4))
    return {"directory": (folder, "is a directory"), "50 MB": (big, "too large for a scenario file"),
            "missing": (tmp_path / "nope.toml", "cannot read: No such file or directory")}


def test_directories_huge_and_missing_files(tmp_path, capsys):
    for _, (path, message) in special_cases(tmp_path).items():
        assert main(["estimate", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_unreadable_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "secret.toml"
    shutil.copy(CORPUS.parent / "bad_scenarios" / "empty.toml", path)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the read fail the way it does for a user
        real = Path.read_bytes
        monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                            if self == path else real(self))
    with pytest.raises(ScenarioError, match="cannot read: Permission denied"):
        load_scenario(path)
    assert main(["estimate", str(path)]) == 2
    assert "Permission denied" in capsys.readouterr().err
