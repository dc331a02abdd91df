"""Runtimes as plug-ins: each runtime's rules, defaults and memory layout, as a user would check them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vramtui.cli import main
from vramtui.core.fit import fit_grid
from vramtui.core.io import dumps, load_scenario
from vramtui.core.methods import estimate
from vramtui.core.presets import gpu
from vramtui.core.runtimes import RUNTIMES
from vramtui.core.runtimes.sglang import tier
from vramtui.core.units import GiB, MiB

from .builders import make


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# every impossible row of docs/method.md's table: the flags, and the two settings the message names
REFUSED = [
    (["--mode", "full", "--runtime", "vllm"], "workload.mode", "workload.runtime"),
    (["--mode", "lora", "--runtime", "llama.cpp"], "workload.mode", "workload.runtime"),
    (["--mode", "qlora", "--runtime", "ollama"], "workload.mode", "workload.runtime"),
    (["--mode", "full", "--runtime", "sglang"], "workload.mode", "workload.runtime"),
    (["--weights", "nf4", "--runtime", "llama.cpp"], "workload.weights", "workload.runtime"),
    (["--weights", "fp8", "--runtime", "ollama"], "workload.weights", "workload.runtime"),
    (["--weights", "gptq-int4", "--runtime", "llama.cpp"], "workload.weights", "workload.runtime"),
    (["--kv-cache", "q8_0", "--runtime", "vllm"], "workload.kv_cache", "workload.runtime"),
    (["--kv-cache", "q4_0", "--runtime", "transformers"], "workload.kv_cache", "workload.runtime"),
    (["--kv-cache", "fp8", "--runtime", "llama.cpp"], "workload.kv_cache", "workload.runtime"),
    (["--kv-cache", "q8_0", "--no-flash-attention", "--runtime", "llama.cpp"], "optimizations.flash_attention", "workload.kv_cache"),
    (["--kv-cache", "q4_0", "--no-flash-attention", "--runtime", "ollama"], "optimizations.flash_attention", "workload.kv_cache"),
    (["--tp", "4", "--runtime", "llama.cpp", "--weights", "q4_k_m"], "optimizations.tensor_parallel", "workload.runtime"),
    (["--mode", "qlora", "--tp", "2"], "optimizations.tensor_parallel", "workload.mode"),
    (["--mode", "lora", "--weights", "q4_k_m"], "workload.weights", "workload.mode"),
]


@pytest.mark.parametrize(("flags", "first", "second"), REFUSED, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_impossible_setups_exit_2_with_one_line_naming_both_settings(capsys, flags, first, second):
    code, out, err = run(capsys, "estimate", "--model", "llama-3.1-8b", *flags)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert first in err and second in err and "Traceback" not in err


def test_a_refused_file_changes_nothing_and_names_both_settings(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('[model]\npreset = "llama-3.1-8b"\n[workload]\nmode = "full"\nruntime = "vllm"\n')
    code, _, err = run(capsys, "estimate", str(path))
    assert code == 2 and "workload.mode = full" in err and "workload.runtime = vllm" in err


def test_gguf_on_transformers_is_computed_as_16_bit_and_warned(capsys):
    code, out, _ = run(capsys, "estimate", "--model", "llama-3.1-8b", "--weights", "q4_k_m", "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["components"]["weights"] == 8_030_261_248 * 2  # dequantized on load: ~15 GiB, not 7.16
    assert any("dequantizes GGUF" in w for w in doc["warnings"])


def test_context_beyond_the_trained_window_is_warned_in_json_and_table(capsys):
    _, out, _ = run(capsys, "estimate", "--model", "llama-3.1-8b", "--context", "1M", "--json")
    assert any("trained context of 128K" in w for w in json.loads(out)["warnings"])
    _, table, _ = run(capsys, "estimate", "--model", "llama-3.1-8b", "--context", "1M")
    assert "warning: workload.context_length = 1024K is beyond Llama 3.1 8B's trained context" in table


def test_a_flag_that_does_not_apply_is_warned_in_the_screens_words(capsys):
    _, out, _ = run(capsys, "estimate", "--model", "llama-3.1-8b", "--zero", "3", "--json")
    assert "--zero has no effect here: needs data parallel > 1 and a training mode" in json.loads(out)["warnings"]


def test_mistral_v01_keeps_every_token_in_llamacpp_but_not_in_vllm():
    """llama.cpp converts Mistral 7B v0.1 to its llama graph, which has no sliding window: 32K of KV is 4 GiB."""
    kv = lambda rt: estimate(make("mistral-7b-v0.1", weights="q4_k_m" if rt == "llama.cpp" else "bf16",  # noqa: E731
                                  context_length=32768, runtime=rt)).per_gpu["kv_cache"]
    assert kv("llama.cpp") == 4 * GiB
    assert kv("vllm") == GiB // 2  # vLLM honours the 4,096-token window
    why = estimate(make("mistral-7b-v0.1", weights="q4_k_m", context_length=32768, runtime="llama.cpp")).why["kv_cache"]
    assert "no sliding window" in why


def test_gemma2_keeps_its_window_in_llamacpp_with_the_iswa_cache_size():
    s = make("gemma-2-9b", weights="q4_k_m", context_length=32768, runtime="llama.cpp")
    m = s.model.spec
    per_cell = 2 * m.kv_heads * m.head_size * 2
    full_layers = m.num_hidden_layers - m.windowed_layers
    # llama-kv-cache-iswa.cpp: window 4096 + n_ubatch 512 cells for the sliding-window layers
    assert estimate(s).per_gpu["kv_cache"] == per_cell * (full_layers * 32768 + m.windowed_layers * 4608)


def test_layer_split_keeps_a_whole_compute_buffer_on_every_gpu():
    one = estimate(make(weights="q4_k_m", runtime="llama.cpp"))
    two = estimate(make(weights="q4_k_m", runtime="llama.cpp", pipeline_parallel=2))
    assert two.per_gpu["activations"] == one.per_gpu["activations"]
    assert two.per_gpu["weights"] < one.per_gpu["weights"]


def test_vllm_grid_gives_a_4090_a_smaller_activation_peak_than_an_h100_and_says_why():
    grid = {f.gpu.id: f for f in fit_grid(make(runtime="vllm"), gpu_ids=("rtx-4090", "h100-80gb", "a100-80gb"))}
    act = {g: f.estimate.per_gpu["activations"] for g, f in grid.items()}
    assert act["rtx-4090"] < act["h100-80gb"]
    assert act["a100-80gb"] == act["rtx-4090"]  # vLLM keeps A100s on the small defaults (PR #17885)
    assert "max_num_seqs 256" in grid["rtx-4090"].estimate.why["activations"]
    assert "max_num_seqs 1,024" in grid["h100-80gb"].estimate.why["activations"]


# (max_num_seqs, max_num_batched_tokens, cap) -> (PIECEWISE, FULL) as vLLM logs them ("Profiling CUDA
# graph memory: PIECEWISE=51 (largest=512), FULL=35 (largest=256)" at 256 sequences, LMCache issue
# 3430; "PIECEWISE=5 (largest=16), FULL=4 (largest=8)" at --max-num-seqs 8 with 65,536 batched tokens)
GRAPH_COUNTS = [((256, 2048, 512), (51, 35)), ((1024, 8192, 512), (51, 51)), ((1024, 16384, 1024), (83, 83)),
                ((8, 65536, 512), (5, 4)), ((16, 2048, 512), (7, 5))]


@pytest.mark.parametrize(("args", "counts"), GRAPH_COUNTS)
def test_vllm_counts_its_cuda_graphs_from_the_default_capture_sizes(args, counts):
    from vramtui.core.runtimes.vllm import capture_sizes, graph_counts

    assert graph_counts(*args) == counts
    sizes = capture_sizes(*args)
    assert sizes == sorted(set(sizes)) and sizes[0] == 1 and max(sizes) <= min(args[0] * 2, args[2], args[1])


def test_vllm_graph_memory_grows_with_the_capture_count_and_sits_in_the_kv_budget():
    from vramtui.core.runtimes.vllm import GRAPH_FIRST_MIB, graph_mib

    assert graph_mib(51, 35) == 768  # the default count at 256 sequences keeps the old 768 MiB
    assert graph_mib(5, 4) < graph_mib(51, 35) < graph_mib(51, 51) < graph_mib(83, 83)
    assert graph_mib(1, 1) == GRAPH_FIRST_MIB
    grid = {f.gpu.id: f for f in fit_grid(make(runtime="vllm"), gpu_ids=("rtx-4090", "h200", "b200"))}
    over = {g: f.estimate.per_gpu["overhead"] for g, f in grid.items()}
    assert over["rtx-4090"] == (512 + 768) * MiB
    assert over["h200"] == (512 + graph_mib(51, 51)) * MiB  # 1,024 sequences: 51 FULL graphs
    assert over["b200"] == (512 + graph_mib(83, 83)) * MiB  # capability 10: capture up to 1,024
    assert "83 PIECEWISE + 83 FULL" in grid["b200"].estimate.why["overhead"]


def test_vllm_kv_capacity_of_a_v021_log_with_its_graphs_in_the_budget(capsys):
    """LMCache issue 3430: vLLM 0.21.0, Qwen3-8B on an RTX A5000, 51 + 35 graphs inside the KV budget.
    The log's own graph estimate is 0.52 GiB where the estimate charges 768 MiB: -2.6 %."""
    code, out, _ = run(capsys, "validate", "--json")
    assert code == 0
    point = next(p for p in json.loads(out)["precise"]["points"]
                 if p["id"] == "vllm-qwen3-8b-bf16-c16384-gmu09764-rtxa5000-v021")
    assert point["total"]["measure"] == "kv_cache_tokens" and abs(point["total"]["error"]) < 0.03


def _setup(model: str, gpu_id: str, context: int, tp: int = 1, kv_cache: str = "bf16"):
    from vramtui.core.setup import Setup

    s = make(model, runtime="vllm", context_length=context, tensor_parallel=tp, kv_cache=kv_cache)
    return Setup(s, gpu(gpu_id))


def test_vllm_version_tuple():
    from vramtui.core.runtimes.vllm import version_tuple

    assert version_tuple("0.10.1.1") == (0, 10, 1, 1)
    assert version_tuple("0.26.1rc1.dev156+g0eec856cc") == (0, 26, 1)
    assert version_tuple("v0.2.7") == (0, 2, 7)
    assert (0, 19, 1) < (0, 20) <= (0, 20, 0)


def test_vllm_kv_line_of_a_hybrid_model_up_to_v020():
    """vLLM 0.10.2, Qwen3-Next-80B-A3B on two H200s (validation point
    vllm-qwen3-next-80b-a3b-bf16-tp2-c262144-gmu09-h200-v0102): 'Current kv cache memory in use is
    47878721024 bytes', 'Setting attention block size to 544 tokens', 'GPU KV cache size: 973,760 tokens'.
    12 attention + 36 linear-attention layers: groups of 12, 4 groups, num_blocks // 4 x 544."""
    from vramtui.core.components import kv_layout
    from vramtui.core.runtimes.vllm import kv_tokens_line

    setup = _setup("qwen3-next-80b-a3b", "h200", 262144, tp=2)
    per_token = kv_layout(setup).per_token
    assert per_token == 12 * 1024  # 12 attention layers, one KV head of 256 per rank, bf16 K and V
    assert kv_tokens_line(setup, 47878721024, per_token, (0, 10, 2), 8192) == 973_760
    # 0.21 onwards logs concurrency x max_model_len: 7,162 blocks / (482 attention blocks + a block in each
    # of the 3 mamba groups) x 262,144, about 4x as many for the same pool
    assert kv_tokens_line(setup, 47878721024, per_token, (0, 21, 0), 8192) == int(7162 / 485 * 262144)


@pytest.mark.parametrize(("kv", "batched", "blocks", "logged"), [("bf16", 4096, 6493, 82_819),
                                                                   ("fp8", 8192, 12316, 130_986)])
def test_vllm_kv_line_of_a_sliding_window_model_from_v021(kv, batched, blocks, logged):
    """vLLM 0.29.0, gpt-oss-20b on an L4, max_model_len 32768 (validation points
    vllm-gpt-oss-20b-mxfp4-c32768-gmu085-l4-v0290 and its kv=fp8 twin): 'GPU KV cache size: 82,819
    tokens, Maximum concurrency for 32,768 tokens per request: 2.53x' and '130,986 tokens ... 4.00x'.
    Neither is a multiple of 16: max_concurrency x max_model_len, with a request taking 2,048 full-attention
    blocks plus cdiv(127 + 2 x max_num_batched_tokens, 16) + 1 sliding-window blocks (the run's
    compile_ranges_endpoints [4096] / [8192]; two batches in flight with async scheduling)."""
    from vramtui.core.components import kv_layout
    from vramtui.core.runtimes.vllm import kv_tokens_line

    setup = _setup("gpt-oss-20b", "l4", 32768, kv_cache=kv)
    per_token = kv_layout(setup).per_token
    layer = per_token // 24  # 8 KV heads of 64, K and V, in bf16 (2 B) or fp8 (1 B)
    pool = blocks * 16 * layer * 12  # each of the 12 shared tensors holds num_blocks pages
    assert kv_tokens_line(setup, pool, per_token, (0, 29, 0), batched) == logged
    assert kv_tokens_line(setup, pool + 16 * layer * 12 - 1, per_token, (0, 29, 0), batched) == logged
    # up to 0.20 the same pool logged num_blocks // 2 groups x 16
    assert kv_tokens_line(setup, pool, per_token, (0, 20, 0), batched) == blocks // 2 * 16


def test_vllm_kv_budget_follows_the_release():
    """Before 0.20 the CUDA graphs were captured after the KV cache; before 0.11 NCCL came after vLLM's
    memory snapshot; 0.2-0.5 charged everything the process held (total - free)."""
    from vramtui.core.runtimes.vllm import CUDA_TOTAL_MIB, NON_TORCH_MIB, RUNTIME, cuda_total_bytes

    setup = _setup("qwen2-7b", "a100-80gb", 16384, tp=2)
    e = estimate(setup.s.model_copy(update={"hardware": setup.s.hardware.model_copy(
        update={"gpus": ["a100-80gb"]})}))
    per = e.per_gpu
    graphs = RUNTIME.cuda_graphs(setup)[2] * MiB
    new, v019, v010 = (RUNTIME.kv_pool_bytes(setup, per, v) for v in ((0, 33), (0, 19, 1), (0, 10, 1)))
    assert new == v019 - graphs
    assert v010 == v019 - setup.nccl_mib * MiB
    assert cuda_total_bytes(gpu("a100-80gb")) == CUDA_TOTAL_MIB["a100-80gb"] * MiB < gpu("a100-80gb").usable_bytes
    charged = sum(per.values()) - per["kv_cache"] - per["overhead"] + NON_TORCH_MIB * MiB + graphs
    assert new == int(cuda_total_bytes(gpu("a100-80gb")) * 0.92) - charged


def test_vllm_budget_on_a_card_no_log_covers_leaves_the_driver_its_share():
    """An RTX 4090 has no logged torch total: vLLM's budget is 0.92 x (nvidia-smi's total less the
    smallest driver reservation the logged cards show); an AMD card keeps its total."""
    from vramtui.core.runtimes.vllm import CUDA_TOTAL_MIB, DRIVER_RESERVED_MIB, RUNTIME

    s = make(runtime="vllm")
    rtx = gpu("rtx-4090")
    assert rtx.id not in CUDA_TOTAL_MIB
    assert RUNTIME.usable_bytes(s, rtx) == int((rtx.memory_mib - DRIVER_RESERVED_MIB) * MiB * 0.92)
    mi = gpu("mi300x")
    assert RUNTIME.usable_bytes(s, mi) == int(mi.usable_bytes * RUNTIME.memory_share(s, mi)[0])
    assert fit_grid(s, gpu_ids=("rtx-4090",))[0].usable_bytes == RUNTIME.usable_bytes(s, rtx)


def test_sglang_sizes_its_static_pool_from_the_gpu():
    s = make(runtime="sglang")
    h100 = gpu("h100-80gb")
    share, why = RUNTIMES["sglang"].memory_share(s, h100)
    chunk, max_bs = tier(h100, 1)
    reserved = max(512 + chunk * 1.5 + 1024 / 8 + max_bs * 2, 10 * 1024)
    assert share == round((h100.memory_mib - reserved) / h100.memory_mib, 3) and "chunked prefill 8,192" in why
    f = fit_grid(s, gpu_ids=("h100-80gb",))[0]
    pool = int(share * (h100.usable_bytes - 512 * MiB))
    assert f.kv_capacity_tokens == (pool - f.estimate.per_gpu["weights"]) // f.estimate.kv_bytes_per_token
    assert f.kv_capacity_sequences == f.kv_capacity_tokens // 8192
    # a card too small for weights + the scenario's KV in its static pool does not fit
    assert not fit_grid(make(runtime="sglang", context_length=1 << 17), gpu_ids=("rtx-4090",))[0].fits


def test_ollama_runs_llamacpps_buffers_and_keeps_its_minimum_memory_free():
    """Same engine and micro-batch as llama.cpp (num_batch 512); ollama's scheduler keeps 457 MiB free per GPU."""
    lc = estimate(make(weights="q4_k_m", runtime="llama.cpp"))
    ol = estimate(make(weights="q4_k_m", runtime="ollama"))
    assert ol.per_gpu["activations"] == lc.per_gpu["activations"] and ol.per_gpu["kv_cache"] == lc.per_gpu["kv_cache"]
    assert ol.per_gpu["overhead"] - lc.per_gpu["overhead"] == 457 * MiB  # ml/device.go MinimumMemory


def test_qlora_turns_checkpointing_on_as_peft_does_and_the_file_keeps_it_unset(tmp_path):
    s = make("llama-3.1-70b", mode="qlora", weights="nf4-dq", context_length=2048)
    on, off = estimate(s), estimate(s.replace("optimizations", gradient_checkpointing=False))
    assert on.per_gpu_bytes < off.per_gpu_bytes * 0.6
    assert "checkpointing" in on.why["activations"]
    assert "gradient_checkpointing" not in dumps(s)  # left to the runtime, so the default follows the mode


@pytest.mark.parametrize("rt", ["ollama", "sglang"])
def test_new_runtimes_in_the_cli_and_in_scenario_files(capsys, tmp_path, rt):
    weights = "q4_k_m" if rt == "ollama" else "bf16"
    code, out, _ = run(capsys, "estimate", "--model", "qwen2.5-7b", "--runtime", rt, "--weights", weights, "--json")
    assert code == 0 and json.loads(out)["per_gpu_bytes"] > 0
    path = tmp_path / "s.toml"
    path.write_text(f'[model]\npreset = "qwen2.5-7b"\n[workload]\nruntime = "{rt}"\nweights = "{weights}"\n')
    assert load_scenario(path).workload.runtime == rt
    code, out, _ = run(capsys, "estimate", "--runtime", "tgi")
    assert code == 2


def test_no_runtime_name_is_compared_outside_the_runtimes_package():
    """Adding a runtime is one module: nothing else may branch on a runtime's name."""
    package = Path(__file__).resolve().parents[1] / "vramtui"
    names = "|".join(re.escape(r) for r in RUNTIMES)
    literal = re.compile(rf"[\"']({names})[\"']")
    offenders = []
    for path in package.rglob("*.py"):
        if "runtimes" in path.relative_to(package).parts:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if literal.search(code) and not re.match(r"\s*(from|import) ", code):
                offenders.append(f"{path.relative_to(package)}:{i}: {line.strip()}")
    assert offenders == []


def test_ollama_warns_when_its_default_num_ctx_on_the_card_differs_from_the_scenario():
    """server/routes.go: 4,096 below 23 GiB of VRAM, 32,768 below 47 GiB, 262,144 above."""
    warn = lambda ctx, card: estimate(make(weights="q4_k_m", runtime="ollama", context_length=ctx),  # noqa: E731
                                      gpu=gpu(card)).warnings
    assert any("num_ctx = 32,768 on NVIDIA GeForce RTX 4090" in w for w in warn(8192, "rtx-4090"))
    assert any("num_ctx = 4,096" in w for w in warn(8192, "rtx-3060-12gb"))
    assert not warn(32768, "rtx-4090") and not warn(4096, "rtx-3060-12gb")


def test_llama_cpp_loads_a_vision_tower_only_from_an_mmproj_file_and_ollama_with_the_model():
    from vramtui.core.formats import WEIGHT_FORMATS, extra_weight_bytes
    from vramtui.core.plan import plan
    from vramtui.core.presets import model

    spec = model("gemma-3-4b")
    assert spec.extra_parameters > 400_000_000  # the preset's SigLIP tower and projector
    tower = extra_weight_bytes(spec, WEIGHT_FORMATS["q4_k_m"])
    assert tower == -(-spec.extra_parameters * 16 // 8)  # 16-bit in a GGUF
    scenarios = {rt: make("gemma-3-4b", runtime=rt, weights="q4_k_m", context_length=4096) for rt in ("llama.cpp", "ollama")}
    text, both = (estimate(s, "precise") for s in scenarios.values())
    assert text.extra_weights_per_gpu == 0 and both.extra_weights_per_gpu == tower
    assert both.per_gpu["weights"] - text.per_gpu["weights"] == tower
    assert "--mmproj" in text.why["weights"]
    # the layer split puts the tower on the first GPU for ollama, nowhere for llama.cpp
    placed = {rt: plan(s, [gpu("rtx-4090")]).devices[0].parts["weights"] for rt, s in scenarios.items()}
    assert placed["ollama"] - placed["llama.cpp"] == tower


def test_vllm_estimates_the_max_num_seqs_its_launch_command_sets():
    """A batch above vLLM's default max_num_seqs (256 on an RTX 4090): the plan's command raises
    --max-num-seqs to it, and the estimate profiles that many sequences (a larger sampler peak, more
    FULL CUDA graphs) and says so; at the default the command leaves the flag out."""
    from vramtui.core.plan import plan

    card = gpu("rtx-4090")

    def stated(text: str) -> int:
        return int(re.search(r"max_num_seqs ([\d,]+)", text).group(1).replace(",", ""))

    at_default = estimate(make(runtime="vllm", batch_size=256), gpu=card)
    assert "--max-num-seqs" not in plan(make(runtime="vllm", batch_size=256), [card]).command
    assert stated(at_default.why["activations"]) == 256
    for batch in (512, 3000):
        s = make(runtime="vllm", batch_size=batch)
        est, command = estimate(s, gpu=card), plan(s, [card]).command
        launched = int(re.search(r"--max-num-seqs (\d+)", command).group(1))
        assert launched == batch
        assert stated(est.why["activations"]) == launched
        assert stated(est.why["overhead"]) == launched
        assert est.per_gpu["activations"] > at_default.per_gpu["activations"]
        assert est.per_gpu["overhead"] > at_default.per_gpu["overhead"]
        # vLLM refuses max_num_batched_tokens below max_num_seqs (2,048 by default on this card)
        tokens = re.search(r"--max-num-batched-tokens (\d+)", command)
        assert (int(tokens.group(1)) if tokens else 2048) >= launched
        assert f"max_num_batched_tokens {max(2048, launched):,}" in est.why["activations"]


def test_flash_attention_compute_buffer_is_layer_0s_ffn_when_it_outgrows_the_logits():
    # ollama 0.30.10 (llama-server), Codestral 22B Q4_0, -c 4096 --flash-attn auto -ub 512 on an A40:
    # "sched_reserve:      CUDA0 compute buffer size =   136.01 MiB" (Jantoniio3/TFG@a9b0dc33 ollama_logs.txt).
    # The logits are 512 x (32,768 + 6,144) x 4 B = 76 MiB; layer 0's FFN: 512 x (3 x 16,384 + 3 x 6,144) x 4 B
    # + the f16 KQ mask 512 x 4,096 x 2 B = 136 MiB (the 0.01 is the token ids and positions)
    e = estimate(make(model="codestral-22b", weights="q4_0", runtime="ollama", context_length=4096,
                      flash_attention=True))
    assert e.components["activations"] == 136 * MiB
    assert "f16 KQ mask" in e.why["activations"]
    # without flash attention the scores, not the FFN, stay the rule
    off = estimate(make(model="codestral-22b", weights="q4_0", runtime="ollama", context_length=4096,
                        flash_attention=False))
    assert "FFN" not in off.why["activations"]
    # a small FFN: the logits stay the peak (qwen3-14b at 32K on llama.cpp b5505: 306.75 MiB)
    q3 = estimate(make(model="qwen3-14b", weights="q8_0", runtime="llama.cpp", context_length=32768,
                       kv_cache="q8_0", flash_attention=True))
    assert q3.components["activations"] == round(306.75 * MiB)


def test_vllm_mxfp4_experts_padded_as_loaded():
    """vLLM pads MXFP4 MoE experts to its back-end's tile (mxfp4_round_up_hidden_size_and_intermediate_size,
    vllm/model_executor/layers/fused_moe/oracle/mxfp4.py; Mxfp4MoEMethod.create_weights @ 0.11.0). gpt-oss-120b
    at TP 4 on A100s under 0.10.1.1 runs Marlin (hidden 2,880 -> 3,072, 720 -> 768 per rank) and logs 'Model
    loading took 17.2217 GiB' per rank (vllm-gpt-oss-120b-mxfp4-tp4-c16384-gmu08-a100-80gb-v01011); under
    Aug 2025's vLLM one H100 ran Marlin too (2,880 -> 2,944): 'Model loading took 65.9651 GiB'."""
    from vramtui.core.components import weights
    from vramtui.core.runtimes.vllm import mxfp4_moe_backend

    def loaded(gpu_id: str, tp: int, version: tuple[int, ...]) -> float:
        s = make("gpt-oss-120b", runtime="vllm", weights="mxfp4", tensor_parallel=tp)
        setup = _setup_of(s, gpu_id)
        return setup.runtime.weights_at(setup, weights(setup).bytes, version) / GiB

    assert mxfp4_moe_backend(gpu("a100-80gb"), (0, 10, 1, 1)) == ("Marlin", 256, 128)
    assert loaded("a100-80gb", 4, (0, 10, 1, 1)) == pytest.approx(17.2217, rel=0.01)
    assert loaded("h100-80gb", 1, (0, 10, 1)) == pytest.approx(65.9651, rel=0.01)
    # OpenAI's Triton kernels (Hopper from 0.11) round only the intermediate size to 64: 2,880 stays
    assert mxfp4_moe_backend(gpu("h100-80gb"))[0] == "Triton"
    s = make("gpt-oss-120b", runtime="vllm", weights="mxfp4")
    setup = _setup_of(s, "h100-80gb")
    assert setup.runtime.weight_padding_bytes(setup, setup.weight_format) == (0, "")


def _setup_of(s, gpu_id: str):
    from vramtui.core.setup import Setup

    return Setup(s, gpu(gpu_id))


def test_vllm_profile_runs_the_vision_encoder_before_011():
    """vLLM 0.9.0.1 (V1), Qwen2.5-VL-7B-Instruct on one L4, --max-model-len 2048 (validation point
    vllm-qwen25-vl-7b-bf16-c2048-l4-v0901): 'Encoder cache will be initialized with a budget of 16384 tokens,
    and profiled with 1 image items of the maximum feature size', 'Available KV cache memory: 1.81 GiB',
    'GPU KV cache size: 33,824 tokens'. The dummy image is 3,584 px square (max_pixels 12,845,056): 65,536
    patches through the ViT (vision_profile_bytes, from the 0.10.0 source), which sets the torch peak."""
    from vramtui.core.components import kv_layout
    from vramtui.core.runtimes.vllm import RUNTIME, vision_profile_bytes

    setup = _setup("qwen2.5-vl-7b", "l4", 2048)
    setup = _setup_of(setup.s.model_copy(update={"workload": setup.s.workload.model_copy(
        update={"gpu_memory_utilization": 0.9})}), "l4")
    e = estimate(setup.s.model_copy(update={"hardware": setup.s.hardware.model_copy(update={"gpus": ["l4"]})}))
    v09 = (0, 9, 0, 1)
    peak, kept = vision_profile_bytes(setup, 2048, 256, v09)
    pixels = 65536 * 3 * 2 * 14 * 14 * 4  # float32 pixel_values, 1,176 per patch
    assert kept == pixels + 16384 * 3584 * 2  # and the encoder cache: 16,384 merged tokens x out_hidden_size
    assert peak == pixels + 65536 * 2 * 13 * 1280  # the rotary step at TP 1: 13 x hidden per patch
    assert RUNTIME.kv_pool_bytes(setup, e.per_gpu, v09) / GiB == pytest.approx(1.81, rel=0.03)
    tokens = RUNTIME.logged_kv_tokens(setup, e.per_gpu, kv_layout(setup).per_token, v09)
    assert tokens == pytest.approx(33_824, rel=0.02)
    # the releases whose encoder code was not traced (0.11-0.15) keep the text-only profile
    assert vision_profile_bytes(setup, 2048, 256, (0, 11, 0)) == (0, 0)
    assert vision_profile_bytes(setup, 2048, 256, (0, 14, 0)) == (0, 0)


def test_vllm_033_profile_charges_the_vision_encoder():
    """vLLM 0.33 (VERSION), Qwen2.5-VL-7B on one L4: the same 65,536-patch dummy image, through 0.16-0.33's
    vision block (merged gate_up, no all-gather, q and k rotated together) with uint8 pixels
    (mm_device_do_normalize): the terms of vision_profile_bytes against the source arithmetic, the
    activations component (the profile's peak) states them, and a text-only model is unchanged."""
    from vramtui.core.runtimes.vllm import RUNTIME, VERSION, vision_profile_bytes, vision_terms

    setup = _setup("qwen2.5-vl-7b", "l4", 4096)
    tokens, seqs = RUNTIME.served_limits(setup.gpu, setup.batch)
    d, inter = 1280, 3420  # Qwen2.5-VL-7B vision_config hidden_size, intermediate_size
    n, pixels, outputs, width = vision_terms(setup, tokens, seqs)
    assert n == 65536  # (3,584 px / 14)² patches, 16,384 merged tokens: one item in a 16,384-token budget
    assert pixels == 65536 * 3 * 2 * 14 * 14 * 1  # uint8 pixel_values
    assert outputs == 16384 * 3584 * 2  # the encoder cache, bf16 x out_hidden_size
    # attention 3d + 8d/t (x, norm1, qkv 3d, qk contiguous 2d, rotated 2d, flash out d, proj d) = 14,080;
    # MLP 3d + 3I/t (x, residual, gate_up 2I, SiluAndMul I, down d) = 14,100
    assert width == max(3 * d + 8 * d, 3 * d + 3 * inter) == 14_100
    peak, kept = vision_profile_bytes(setup, tokens, seqs)
    assert (peak, kept) == (pixels + 65536 * 2 * 14_100, pixels + outputs)
    # at TP 2 the per-rank widths halve but the residual, norm and the projections' full outputs stay
    n2, _, _, width2 = vision_terms(_setup("qwen2.5-vl-7b", "l4", 4096, tp=2), tokens, seqs)
    assert width2 == max(3 * d + 4 * d, 3 * d + 1.5 * inter)
    # the estimate's activations are the profile's peak, and say so
    e = estimate(setup.s.model_copy(update={"hardware": setup.s.hardware.model_copy(update={"gpus": ["l4"]})}))
    text = RUNTIME._text_peak(setup, tokens, seqs)
    assert e.per_gpu["activations"] == max(peak, text + kept) == peak
    why = e.why["activations"]
    assert "dummy-image patches" in why and "14,100 ViT block peak width" in why
    assert RUNTIME.kv_pool_bytes(setup, e.per_gpu, VERSION) == RUNTIME.kv_pool_bytes(setup, e.per_gpu)
    # a text-only model: no vision terms, activations the text peak alone
    plain = _setup("qwen2.5-7b", "l4", 4096)
    assert vision_terms(plain, tokens, seqs) is None
    e2 = estimate(plain.s.model_copy(update={"hardware": plain.s.hardware.model_copy(update={"gpus": ["l4"]})}))
    assert e2.per_gpu["activations"] == RUNTIME._text_peak(plain, tokens, seqs)
