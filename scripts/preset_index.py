"""Write presets/index.json from the preset TOML files (run after editing a preset or vramtui/core/model.py).

Usage: .venv/bin/python scripts/preset_index.py   (tests/test_presets.py fails while the index is stale)
"""

import sys

from vramtui.core import presets


def main() -> int:
    path = presets.presets_dir() / presets.INDEX
    text = presets.index_text(presets.build_index())
    if path.exists() and path.read_text(encoding="utf-8") == text:
        print(f"{path}: up to date")
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
