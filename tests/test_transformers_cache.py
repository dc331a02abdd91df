"""transformers' tuple cache (before 4.42), checked against the optimum benchmarks that ran 4.35."""

from __future__ import annotations

import statistics

from vramtui.cli import main
from vramtui.core.methods import estimate
from vramtui.core.validation import compare, load_points

from .builders import make


def _generate_runs():
    return [p for p in load_points() if p.legacy_cache]


def test_the_tuple_cache_brings_every_transformers_4_35_generate_run_closer():
    points = _generate_runs()
    assert len(points) >= 10 and {p.model for p in points} >= {"llama-2-7b", "llama-2-13b"}
    assert all("4.35" in p.notes for p in points)  # the version each point's notes quote
    on, off = [], []
    for p in points:
        s = p.scenario()
        modern = s.model_copy(update={"optimizations": s.optimizations.model_copy(update={"legacy_cache": False})})
        on.append(abs(compare(p).total.error))
        off.append(abs(compare(p, scenario=modern).total.error))
    assert all(a < b for a, b in zip(on, off, strict=True))
    assert statistics.median(on) <= 0.03 < statistics.median(off)


def test_at_a_long_context_the_tuple_cache_holds_about_a_second_cache():
    kw = dict(runtime="transformers", context_length=32768, batch_size=4)
    off, on = (estimate(make("llama-3.1-8b", **kw, legacy_cache=v), "precise") for v in (False, True))
    kv = on.per_gpu["kv_cache"]
    assert on.per_gpu["kv_cache"] == off.per_gpu["kv_cache"] and on.per_gpu["weights"] == off.per_gpu["weights"]
    # the previous step's cache is one token shorter than the cache itself
    assert kv * 32767 // 32768 <= on.per_gpu["activations"] <= kv + off.per_gpu["activations"]
    assert "previous step's cache" in on.why["activations"]


def test_where_eager_attention_scores_outweigh_the_cache_the_prefill_stays_the_peak():
    kw = dict(runtime="transformers", context_length=2048, batch_size=1, flash_attention=False)
    off, on = (estimate(make("llama-3.1-8b", **kw, legacy_cache=v), "precise") for v in (False, True))
    # 32 heads x 2048² scores (~1.3 GiB) against a 256 MiB cache: the decode step is not the peak
    assert off.per_gpu["activations"] > off.per_gpu["kv_cache"]
    assert on.per_gpu == off.per_gpu


def test_the_cli_flag_sets_it_and_warns_where_it_does_not_apply(capsys):
    assert main(["estimate", "--model", "llama-3.1-8b", "--runtime", "transformers", "--context", "32768",
                 "--legacy-cache", "--json"]) == 0
    assert '"legacy_cache": true' in capsys.readouterr().out
    assert main(["estimate", "--model", "llama-3.1-8b", "--runtime", "vllm", "--legacy-cache"]) == 0
    err = capsys.readouterr().err
    assert "--legacy-cache has no effect here: transformers inference only" in err
