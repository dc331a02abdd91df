"""Layering: the core is pure Python + pydantic and never imports Textual."""

import subprocess
import sys


def test_core_does_not_import_textual():
    code = "import sys, vramtui.core.methods, vramtui.core.fit, vramtui.core.io, vramtui.cli; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
