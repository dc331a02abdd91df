"""Shared fixtures: isolated scenario folders, and scenarios built the way users build them."""

from __future__ import annotations

import pytest

from vramtui.core import presets
from vramtui.core.io import default_scenario
from vramtui.core.scenario import ModelChoice, Scenario


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the user's real scenarios folder."""
    monkeypatch.setenv("VRAMTUI_HOME", str(tmp_path / "vramtui-home"))


def make(model: str = "llama-3.1-8b", **changes) -> Scenario:
    """A scenario for ``model`` with workload/optimizations fields overridden by name."""
    s = default_scenario().model_copy(update={"model": ModelChoice(preset=model, spec=presets.model(model))})
    work = {k: v for k, v in changes.items() if k in type(s.workload).model_fields}
    opts = {k: v for k, v in changes.items() if k in type(s.optimizations).model_fields}
    unknown = set(changes) - set(work) - set(opts)
    assert not unknown, f"unknown fields {unknown}"
    if work:
        s = s.replace("workload", **work)
    if opts:
        s = s.replace("optimizations", **opts)
    return s
