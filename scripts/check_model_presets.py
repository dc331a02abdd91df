"""Check model preset TOML files: schema, unique ids, derived vs official parameter count.

Usage (after `make test` has installed the package): .venv/bin/python scripts/check_model_presets.py presets/models/llama.toml [...]
"""

import sys
import tomllib

from vramtui.core.model import ModelSpec


def main(paths: list[str]) -> int:
    bad = 0
    for path in paths:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        for entry in doc.get("models", []):
            try:
                spec = ModelSpec(**entry)
            except Exception as exc:  # report every problem, not just the first
                print(f"{path}: {entry.get('id')}: INVALID {exc}")
                bad += 1
                continue
            derived = spec.total_parameters
            official = spec.parameters
            diff = derived - official if official else None
            rel = diff / official if official else 0.0
            limit = 0.05 if spec.family == "guide" else 0.02  # the guide's nominal 7e9 / 70e9
            status = "ok" if diff == 0 else ("NOTE" if spec.parameters_note and abs(rel) < limit else "MISMATCH")
            if status == "MISMATCH":
                bad += 1
            print(f"{status:8} {spec.id:32} derived={derived:>16,} official={official or 0:>16,} diff={rel:+.5%}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
