"""A partial offload's compute buffers under llama.cpp's op offload (ggml_backend_sched): the host-resident
output weight and a host layer's K/V are copied into the first GPU's compute buffer, and the host's
compute buffer keeps only the graph inputs. Checked against the published logs of
validation/points and against the arithmetic of the tensors a user can redo."""

from __future__ import annotations

import pytest

from vramtui.core.plan import plan
from vramtui.core.presets import gpu
from vramtui.core.units import MiB
from vramtui.core.validation import compare, load_points

from .builders import make

POINTS = {p.id: p for p in load_points()}


def gpu_compute(point_id: str) -> tuple[float, float]:
    r = compare(POINTS[point_id])
    c = next(c for c in r.comparisons if c.measure == "gpu_compute_buffer_mib")
    return c.measured, c.estimated


def test_output_layer_on_the_host_puts_its_q6k_weight_and_the_logits_in_the_gpu_compute_buffer():
    # ollama 0.6.1, QwQ 32B Q4_K_M, --n-gpu-layers 33 of 65 (output layer on the CPU), no flash attention:
    # "CUDA0 compute buffer size = 916.08 MiB". The output matrix is Q6_K (210 bytes per 256 weights), and
    # the micro-batch's f32 logits and normed hidden rows sit beside it:
    output = 152064 * 5120 * 210 // 256
    logits = 512 * (152064 + 5120) * 4
    assert (output + logits) / MiB == pytest.approx(916.08, abs=0.01)
    measured, estimated = gpu_compute("ollama-partial-qwq-32b-q4km-ngl33of65-c2048-nofa-rtx3080ti")
    assert estimated == pytest.approx(measured, rel=0.001)
    # the same model shape at 32k context with flash attention (a newer ollama): the same 916.08 MiB
    measured, estimated = gpu_compute("ollama-partial-qwen25-coder-32b-q4km-ngl49of65-c32768-rtx3090")
    assert estimated == pytest.approx(measured, rel=0.001)


def test_a_host_layer_brings_its_kv_and_the_kq_mask_to_the_gpu():
    # Llama 3.2 3B at 131,072 tokens with 27 of 28 layers on the host: layer 0's attention runs on the GPU
    # with its K and V (131,072 cells x 8 heads x 128 x f16, each) and the f32 KQ mask with its f16 cast
    kv = 2 * 131072 * 8 * 128 * 2
    mask = 512 * 131072 * (4 + 2)
    assert (kv + mask) / MiB == 896
    measured, estimated = gpu_compute("ollama-partial-llama32-3b-q4km-fit2of29-c131072-rtx3050laptop-vulkan")
    assert estimated == kv + mask
    assert estimated == pytest.approx(measured, rel=0.04)  # 925.06 MiB: a few hidden rows are not counted


def test_the_host_compute_buffer_keeps_the_mask_and_the_embedding_rows_not_the_logits():
    # the qwen2.5-coder-32b log: "CUDA_Host compute buffer size = 74.01 MiB" at n_ctx 32768, n_ubatch 512
    p = POINTS["ollama-partial-qwen25-coder-32b-q4km-ngl49of65-c32768-rtx3090"]
    pl = plan(p.scenario(), [gpu(p.gpu)], gpu_layers=p.gpu_layers)
    assert pl.host_parts["compute"] == 512 * 32768 * 4 + 512 * 5120 * 4
    assert pl.host_parts["compute"] / MiB == pytest.approx(74.01, abs=0.02)


def test_a_full_offload_and_metal_keep_the_plain_compute_buffer():
    s = make("llama-3.1-8b", weights="q4_k_m", runtime="llama.cpp", context_length=8192)
    full = plan(s, [gpu("rtx-4090")], gpu_layers=33)
    assert full.devices[0].parts["activations"] == 512 * (128256 + 4096) * 4  # the logits alone
    partial = plan(s, [gpu("rtx-4090")], gpu_layers=20)  # the output layer stays on the host
    assert partial.devices[0].parts["activations"] > full.devices[0].parts["activations"]
    # on Metal the host layers' matmuls stay on the CPU (the one Metal log keeps the logits there)
    measured, estimated = gpu_compute("ollama-partial-llama31-70b-q80-ngl66of81-c131072-m3max-metal")
    # the full-offload buffer: with flash attention at 128K, layer 0's FFN (3 I + 3 h rows and the f16 KQ
    # mask) outgrows the logits
    assert estimated == max(512 * (128256 + 8192) * 4, 512 * (3 * 28672 + 3 * 8192) * 4 + 512 * 131072 * 2)
