"""Setups that cannot run (refused) and setups that run but not as the numbers suggest (warned).

The runtime rules live in each runtime module; this module adds the ones that hold whatever the
runtime, and is the one place the scenario, the CLI and the TUI ask. ``docs/method.md`` has the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .formats import kv_format, weight_format
from .runtimes import Finding, runtime
from .units import fmt_tokens

if TYPE_CHECKING:
    from .scenario import Scenario
    from .setup import Setup


class Refused(ValueError):
    """A setup the runtime cannot run; the message names both settings."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def refusals(s: Scenario) -> list[Finding]:
    return runtime(s.workload.runtime).refusals(s, weight_format(s.workload.weights), kv_format(s.workload.kv_cache))


def check(s: Scenario) -> None:
    """Raise ``Refused`` with the first rule the scenario breaks."""
    found = refusals(s)
    if found:
        raise Refused(found[0])


def warnings(setup: Setup) -> list[str]:
    """What the estimate on this GPU should say next to its numbers."""
    m = setup.spec
    out = setup.runtime.warnings(setup)
    if setup.context > m.max_position_embeddings:
        out.append(f"workload.context_length = {fmt_tokens(setup.context)} is beyond {m.name}'s trained context of "
                   f"{fmt_tokens(m.max_position_embeddings)} (max_position_embeddings): without RoPE scaling the "
                   "model degrades past it")
    return out
