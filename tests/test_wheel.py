"""Presets ship inside the wheel, with an index that matches them: build it, install it into a fresh
venv outside the repo, run it."""

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_carries_presets_and_runs_outside_the_repo(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("vramtui-*.whl"))

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # dependencies (pydantic, textual, ...) come from the test environment, offline; a plain path
    # entry does not run that environment's .pth files, so the repo's editable install stays out
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = subprocess.run([str(py), "-c", "import vramtui; print(vramtui.__file__)"], cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout
    assert str(env_dir) in where and str(REPO) not in where

    out = subprocess.run([str(env_dir / "bin" / "vramtui"), "models", "--json"], cwd=tmp_path,
                         check=True, capture_output=True, text=True, timeout=120).stdout
    ids = {m["id"] for m in json.loads(out)["models"]}
    assert {"llama-3.1-8b", "gpt-oss-120b", "guide-llama-7b"} <= ids and len(ids) >= 100
    fresh = ("import json; from vramtui.core import presets as p; "
             "print(json.loads((p.presets_dir() / p.INDEX).read_text())['sources'] == p._sources())")
    assert subprocess.run([str(py), "-c", fresh], cwd=tmp_path, check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip() == "True", "the wheel's preset index does not match its presets"
    gpus = subprocess.run([str(env_dir / "bin" / "vramtui"), "gpus", "--json"], cwd=tmp_path,
                          check=True, capture_output=True, text=True, timeout=120).stdout
    assert len(json.loads(gpus)["gpus"]) >= 40
    checked = subprocess.run([str(env_dir / "bin" / "vramtui"), "validate", "--json"], cwd=tmp_path,
                             check=True, capture_output=True, text=True, timeout=300).stdout
    assert len(json.loads(checked)["precise"]["points"]) >= 50  # the validation set ships too
