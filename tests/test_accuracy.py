"""The validation set: every point rebuilds, and no (runtime, mode) group's median error grows past
the figure documented in docs/accuracy.md (validation/thresholds.toml)."""

from __future__ import annotations

import statistics
import tomllib
from pathlib import Path

from vramtui.cli import main
from vramtui.core.validation import load_points, summarize, validate

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = tomllib.loads((ROOT / "validation" / "thresholds.toml").read_text())["precise"]


def test_the_set_has_at_least_50_sourced_points():
    points = load_points()
    assert len(points) >= 50
    assert all(p.source.startswith("http") and p.quote.strip() for p in points)
    assert {p.runtime for p in points} == {"llama.cpp", "vllm", "transformers"}
    assert {p.mode for p in points} == {"inference", "lora", "qlora", "full"}


def test_no_group_is_worse_than_documented():
    groups = {f"{g.runtime}/{g.mode}": g for g in summarize(validate("precise"))}
    assert set(groups) == set(THRESHOLDS)
    worse = {k: round(g.median_abs, 4) for k, g in groups.items() if g.median_abs > THRESHOLDS[k]}
    assert worse == {}


def test_precise_beats_the_guide_in_every_group():
    precise = {(g.runtime, g.mode): g.median_abs for g in summarize(validate("precise"))}
    guide = {(g.runtime, g.mode): g.median_abs for g in summarize(validate("guide"))}
    assert all(precise[k] < guide[k] for k in precise)


def test_issue_targets_inference_within_5_and_training_within_10_percent():
    results = [r for r in validate("precise") if r.total]
    inference = [abs(r.total.error) for r in results if r.point.mode == "inference"]
    training = [abs(r.total.error) for r in results if r.point.mode != "inference"]
    assert statistics.median(inference) <= 0.05
    assert statistics.median(training) <= 0.10


def test_validate_command_prints_both_methods(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "guide error" in out and "median |error|" in out and "llama.cpp" in out
