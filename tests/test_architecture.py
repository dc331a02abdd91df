"""Layering: the core is pure Python and never imports Textual; each CLI command imports only what it
uses (issue 14: the Hub client, the GGUF reader and NVML cost nothing to a command that does not read a
checkpoint or the machine's GPUs; the records are the core's own, so no command imports pydantic)."""

import subprocess
import sys

import pytest

HEAVY = ("textual", "pydantic", "huggingface_hub", "gguf", "pynvml")


def test_core_does_not_import_textual():
    code = "import sys, vramtui.core.methods, vramtui.core.fit, vramtui.core.io, vramtui.cli; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def imported_by(*args: str, among: tuple[str, ...] = HEAVY) -> set[str]:
    """Which of ``among`` a fresh process has imported after running `vramtui ARGS`."""
    code = ("import contextlib, io, sys\nfrom vramtui.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main({list(args)!r}) == 0\n"
            f"print(','.join(m for m in {among!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(filter(None, out.strip().split(",")))


@pytest.mark.parametrize("args", [
    ("estimate", "--model", "llama-3.1-8b", "--json"),
    ("fit", "--model", "llama-3.1-8b"),
    ("plan", "--model", "llama-3.1-8b", "--runtime", "llama.cpp", "--weights", "q4_k_m", "--gpus", "rtx-3060-12gb"),
    ("validate", "--json"),
    ("gpus",),
], ids=lambda a: a[0])
def test_commands_import_only_the_core(args):
    assert imported_by(*args) == set()


def test_models_reads_the_index_without_the_records():
    records = (*HEAVY, "vramtui.core.record", "vramtui.core.model", "pathlib")
    assert imported_by("models", among=records) == set()
    assert imported_by("models", "qwen", "--json", among=records) == set()


@pytest.mark.parametrize("args", [
    ("estimate", "--model", "llama-3.1-8b", "--json"),
    ("fit", "--model", "llama-3.1-8b"),
], ids=lambda a: a[0])
def test_estimate_and_fit_start_without_the_costly_stdlib_modules(args):
    """Issue 14: `dataclasses` (which imports `inspect`, `ast`, `dis`) and its class building were about a
    third of these commands' process time, the TOML parser and `tempfile` another tenth, `pathlib` (with
    `urllib.parse` and `ipaddress`) ~3 ms more (docs/performance.md); their records are named tuples, the
    preset index is JSON and the presets folder is read with os.path."""
    assert imported_by(*args, among=("dataclasses", "inspect", "tomllib", "tempfile", "tomli_w", "pathlib")) == set()
