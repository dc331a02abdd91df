"""Rewrite the block of docs/accuracy.md between its markers with `vramtui validate --markdown`.

Usage: .venv/bin/python scripts/update_accuracy_doc.py   (tests/test_accuracy.py checks the block)
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from vramtui.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "accuracy.md"
BEGIN, END = "<!-- validate --markdown: begin -->", "<!-- validate --markdown: end -->"


def update() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["validate", "--markdown"])
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{out.getvalue().strip()}\n{END}{tail}")


if __name__ == "__main__":
    update()
