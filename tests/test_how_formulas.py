"""Every "how" beside a number redoes that number (issue 13, defect 7).

The text is parsed here as a reader would redo it, without the estimator's formula module: numbers
(thousands separated), × ÷ + −, max(...), parentheses, the units B, KiB, MiB, GiB, MB, GB and %, and
words that label the numbers. What follows the first "; " is commentary. A component of zero may say
why in words; any other component's text must evaluate to the bytes shown for it on one GPU.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtui.core import presets
from vramtui.core.estimate import COMPONENTS
from vramtui.core.methods import estimate

from .builders import make
from .test_properties import SETTINGS, scenarios

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "MB": 10**6, "GB": 10**9, "%": 0.01}
TOKEN = re.compile(r"max\(|[()×÷+−]|,(?=\s)|[^\s(),×÷+−]+(?:,[^\s(),×÷+−]+)*")
NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


class Unreadable(Exception):
    pass


def tokens(text: str) -> list[str]:
    """Numbers, units and operators; label words dropped."""
    out = []
    for tok in TOKEN.findall(text):
        if NUMBER.fullmatch(tok) or tok in UNITS or tok in ("max(", "(", ")", ",", "×", "÷", "+", "−"):
            out.append(tok)
    return out


def evaluate(text: str) -> float | None:
    """The arithmetic before the first '; ', or None when it holds no number."""
    toks = tokens(text.split("; ")[0])
    if not any(NUMBER.fullmatch(t) for t in toks):
        return None
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(toks):
            raise Unreadable(f"ends early: {text!r}")
        pos += 1
        return toks[pos - 1]

    def factor() -> float:
        t = take()
        if NUMBER.fullmatch(t):
            value = float(t.replace(",", ""))
            if peek() in UNITS:
                value *= UNITS[take()]
            return value
        if t == "(":
            value = expr()
            if take() != ")":
                raise Unreadable(f"unbalanced: {text!r}")
            return value
        if t == "max(":
            values = [expr()]
            while peek() == ",":
                take()
                values.append(expr())
            if take() != ")":
                raise Unreadable(f"unbalanced max: {text!r}")
            return max(values)
        raise Unreadable(f"unexpected {t!r} in {text!r}")

    def term() -> float:
        value = factor()
        while peek() in ("×", "÷"):
            op, right = take(), factor()
            value = value * right if op == "×" else value / right
        return value

    def expr() -> float:
        value = term()
        while peek() in ("+", "−"):
            op, right = take(), term()
            value = value + right if op == "+" else value - right
        return value

    result = expr()
    if pos != len(toks):
        raise Unreadable(f"left over {toks[pos:]} in {text!r}")
    return result


def check(est) -> None:
    for name in COMPONENTS:
        shown = est.per_gpu[name]
        text = est.why.get(name, "")
        value = evaluate(text)
        if value is None:
            assert shown == 0, f"{name} shows {shown:,} B but its text has no arithmetic: {text!r}"
            continue
        # the printed numbers are rounded (3 decimals of GiB, 5 significant digits): 0.5 % or 2 MiB
        assert abs(value - shown) <= max(0.005 * shown, 2 << 20), (
            f"{est.method} {name}: text gives {value:,.0f} B, shown {shown:,} B: {text!r}")


def test_the_parser_reads_what_a_reader_reads():
    assert evaluate("8,030,261,248 params × 2 B ÷ 2 TP; bf16-mixed recipe, 32 layers") == 8_030_261_248
    assert evaluate("500 MiB CUDA context + 10 % × 1.5 GiB allocated") == 500 * 2**20 + 0.1 * 1.5 * 2**30
    assert evaluate("max(512 tokens × 4 B, 3 B × (2 + 1))") == 2048
    assert evaluate("training runs with use_cache=False: no KV cache is kept") is None
    with pytest.raises(Unreadable):
        evaluate("2 × (3 + 4")


def test_tp_and_zero3_training_text_matches_each_number():
    """The report's case: TP 2 and ZeRO-3, where gradients, weights and adapters disagreed."""
    for mode, weights in (("full", "bf16"), ("lora", "bf16")):
        s = make("llama-3.1-8b", mode=mode, weights=weights, tensor_parallel=2, zero_stage=3, data_parallel=4,
                 context_length=2048, batch_size=2)
        check(estimate(s, "precise"))
        check(estimate(s, "guide"))


@pytest.mark.parametrize("runtime", ["transformers", "vllm", "sglang", "llama.cpp", "ollama"])
def test_each_runtime_inference_text_matches_each_number(runtime):
    s = make("llama-3.1-8b", runtime=runtime, weights="q4_k_m" if runtime in ("llama.cpp", "ollama") else "bf16",
             context_length=8192, batch_size=4, flash_attention=False if runtime == "llama.cpp" else None)
    check(estimate(s, "precise"))


@SETTINGS
@given(scenarios(), st.sampled_from(["precise", "guide"]))
def test_every_how_redoes_its_number(s, method):
    check(estimate(s, method))


def test_a_draft_models_bytes_are_in_the_formula():
    s = make("llama-3.1-70b", runtime="vllm", tensor_parallel=2)
    s = s.model_copy(update={"model": s.model.model_copy(update={"draft": "llama-3.2-1b", "draft_spec": presets.model("llama-3.2-1b")})})
    est = estimate(s, "precise")
    assert "draft" in est.why["weights"]
    check(est)


def test_the_solvers_build_no_text_and_get_the_same_bytes():
    """Inside formula.silent() (the fit grid's solvers) no "how" is built, and the bytes do not change."""
    from vramtui.core.formula import silent

    s = make("llama-3.1-8b", mode="lora", tensor_parallel=2, zero_stage=3, data_parallel=4)
    loud = estimate(s, "precise")
    with silent():
        quiet = estimate(s, "precise")
    built = ("weights", "activations", "gradients", "optimizer_states", "overhead")
    assert quiet.per_gpu == loud.per_gpu and all(quiet.why[k] == "" for k in built)
    assert all(loud.why[k] for k in built)
