"""llama.cpp (``llama-server`` / ``llama-cli``, CUDA backend): GGUF weights, whole layers per GPU.

Buffers as its logs print them: model buffers per device (the token-embedding table on the host),
the KV cache padded to its cell padding, one compute buffer per device sized for one micro-batch
(n_ubatch) against the whole context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import constants as K
from ..formats import KVFormat, WeightFormat, token_embedding_bytes
from ..formula import explain, explaining, q, tmax
from ..plan import Flag, Host, Plan
from ..units import GiB
from .base import Finding, Part, Runtime, setting

if TYPE_CHECKING:
    from ..gpuspec import GPUSpec
    from ..layer_split import Placement
    from ..scenario import Scenario
    from ..setup import Setup

QUANTIZED_KV = ("q8_0", "q4_0")
# ggml-cuda.cu ggml_backend_cuda_device_offload_op: "const int min_batch_size = 32" (ggml-vulkan.cpp
# ggml_backend_vk_device_offload_op the same), and ggml-backend.cpp checks "sched->batch_size >= 32"
# (ollama/ollama@f63eea3d273816ffc27fbeb0662ab44d236abc45, ml/backend/ggml/ggml/src/)
OP_OFFLOAD_MIN_BATCH = 32
# llama-model.cpp: the architectures whose graphs use sliding-window attention (hparams.swa_type set),
# by Hugging Face model_type. Others (LLM_ARCH_LLAMA, which Mistral 7B v0.1 converts to, Starcoder2,
# Qwen2) cache every token in every layer even when config.json names a window.
# (src/models/<arch>.cpp @ 4df29be; Phi3 turns its window off on purpose)
SWA_MODEL_TYPES = frozenset({"gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma4", "cohere2", "gpt_oss", "llama4",
                             "exaone4"})


class LlamaCpp(Runtime):
    id = "llama.cpp"
    label = "llama.cpp"
    summary = "llama.cpp server/CLI: GGUF weights, layers split across GPUs, host RAM for the rest"
    modes_reason = "llama.cpp runs inference (its server and CLI); train with transformers (PEFT/TRL)"
    weight_kinds = ("gguf", "float", "nominal")
    native_kinds = ("gguf",)
    # common/arg.cpp kv_cache_types: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1; no fp8
    kv_formats = ("fp32", "fp16", "bf16", "q8_0", "q4_0")
    kv_reason = "llama.cpp has no fp8 cache type"
    multi_gpu = "layers"
    # src/llama-memory-recurrent.cpp allocates the recurrent r/s states as GGML_TYPE_F32
    recurrent_state_bytes = 4.0
    multi_gpu_reason = "llama.cpp splits a model across GPUs by whole layers (--split-mode layer, the default)"
    # the process holds 0.25-0.45 GiB per GPU beyond its model/KV/compute buffers on Linux (CUDA context,
    # cuBLAS handles), from the gap between nvidia-smi and the printed buffers in the logs of
    # validation/points/llamacpp.toml; 350 MiB is the middle
    context_mib = 350
    slack = (0.0, 0.0)  # ggml allocates each buffer once

    def weight_refusal(self, fmt: WeightFormat) -> str | None:
        if fmt.kind in self.weight_kinds or fmt.id == "mxfp4":  # GGUF has an MXFP4 type (gpt-oss)
            return None
        return (f"llama.cpp reads GGUF files, whose tensors are ggml types (F16, BF16, Q8_0, Q4_K, MXFP4, ...), "
                f"not {fmt.label}; pick the GGUF quantization instead")

    def refusals(self, s: Scenario, weights: WeightFormat, kv: KVFormat) -> list[Finding]:
        out = super().refusals(s, weights, kv)
        if not s.is_training and kv.id in QUANTIZED_KV and s.optimizations.flash_attention is False:
            out.append(self.quantized_kv_finding(kv))
        return out

    def quantized_kv_finding(self, kv: KVFormat) -> Finding:
        # src/llama-context.cpp: "V cache quantization requires flash_attn" (the context is not created)
        return Finding(("optimizations.flash_attention", "workload.kv_cache"),
                       f"{setting('optimizations.flash_attention', 'false')} is not possible with "
                       f"{setting('workload.kv_cache', kv.id)} in {self.label}: a quantized V cache requires "
                       "flash attention (llama-context.cpp)")

    def flash_attention_default(self, s: Scenario) -> tuple[bool, str]:
        # common/arg.cpp: -fa defaults to "auto", on where the backend supports it (every CUDA GPU)
        return True, "llama.cpp's -fa auto turns flash attention on where the GPU supports it"

    def kv_block_tokens(self, setup: Setup) -> int:
        # src/llama-context.cpp @ 4df29be: "cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)" (and each slot's
        # share when the cache is not unified); the cache itself is created with n_pad = 1
        return K.LLAMACPP_CTX_PAD

    def window_cells(self, setup: Setup, tokens: int, batch: int) -> tuple[int | None, str]:
        m = setup.spec
        if m.model_type not in SWA_MODEL_TYPES:
            name = m.model_type or "this model's"
            return None, f"llama.cpp's {name} graph has no sliding window: every layer caches every token"
        # src/llama-kv-cache-iswa.cpp @ 4df29be: "size_swa = GGML_PAD(std::min(size_base,
        # hparams.n_swa*(unified ? n_seq_max : 1) + n_ubatch), 256)"; llama-server's slots share one cache
        block = setup.kv_block
        n_ub = self.ubatch(setup)[0]
        cells = math.ceil(min(tokens * batch, m.sliding_window * batch + n_ub) / block) * block  # type: ignore[operator]
        return cells, f"sliding-window layers hold window × seqs + n_ubatch = {cells:,} cells (llama.cpp iSWA cache)"

    def loads_extra_modules(self, s: Scenario) -> tuple[bool, str]:
        # convert_hf_to_gguf.py writes a multimodal model's vision tower and projector to a separate file
        # (--mmproj), which llama-server loads only when given it (tools/mtmd); the text GGUF holds none
        if s.model.mmproj:
            return True, ""
        return False, "the vision tower is not in the text GGUF; llama.cpp loads it only from an --mmproj file"

    def host_weight_bytes(self, setup: Setup, fmt: WeightFormat) -> tuple[int, str]:
        if setup.spec.tie_word_embeddings:
            # a tied model's output layer still needs that matrix on the GPU
            return 0, ""
        host = token_embedding_bytes(setup.spec, fmt)
        return host, f"token embeddings ({host / GiB:.2f} GiB) stay in host RAM (llama.cpp's input layer runs on the CPU)"

    def ubatch(self, setup: Setup) -> tuple[int, str]:
        """Tokens per micro-batch (n_ubatch), which sizes the compute buffer, and where it comes from."""
        return K.LLAMACPP_UBATCH, "n_ubatch"

    def graph_tokens(self, setup: Setup) -> tuple[int, int]:
        """(tokens of the reserved micro-batch: n_ubatch, or the whole prompt when shorter; KV cells the
        graph attends over): the two sizes every compute-buffer term reads."""
        return min(self.ubatch(setup)[0], setup.batch * setup.context), setup.kv_tokens * setup.batch

    def inference_activations(self, setup: Setup) -> Part:
        m = setup.spec
        h = m.hidden_size
        ub_name = self.ubatch(setup)[1]
        ub, n_ctx = self.graph_tokens(setup)
        logits = ub * (m.vocab_size + h) * 4
        flash = setup.flash_attention
        attn = self._fa_ffn_stage(setup) if flash else self._nofa_attention(setup)
        if not explaining():  # the fit solvers: the bytes alone
            return Part(max(logits, attn))
        f_logits = q(ub, ub_name) * (q(m.vocab_size, "vocab") + q(h, "hidden")) * q(4, "B logits")
        parts = [f_logits]
        if not flash:
            parts.append(q(ub, ub_name) * q(n_ctx, "n_ctx") * (q(m.num_attention_heads, "heads") + q(1, "mask"))
                         * q(4, "B scores") + q(ub, ub_name) * q(K.LLAMACPP_NOFA_HIDDEN, "rows") * q(h, "hidden")
                         * q(4, "B"))
        elif attn:
            parts.append(q(ub, ub_name) * (q(3, "FFN rows") * q(m.intermediate_size, "intermediate")
                                           + q(3, "rows") * q(h, "hidden")) * q(4, "B")
                         + q(ub, ub_name) * q(n_ctx, "n_ctx") * q(2, "B f16 mask"))
        comments = ["compute buffer: the larger of the output logits and, without flash attention, the scores"
                    if not flash else
                    "compute buffer: the larger of the output logits and the first layer's FFN (gate, up and "
                    "their product, 3 hidden rows, the f16 KQ mask that every layer reads)"]
        if setup.pp > 1:
            comments.append("every GPU of the layer split holds its own compute buffer")
        why = explain(tmax(*parts) if len(parts) > 1 else f_logits, *comments)
        return Part(max(logits, attn), why)

    def op_offload(self, setup: Setup) -> tuple[bool, str]:
        """Whether ggml's scheduler runs the ops of host-resident weights on the GPU (op offload)."""
        n_ub = self.graph_tokens(setup)[0]
        if setup.gpu.vendor == "apple":
            # ggml-metal.m returned false from offload_op until ollama's b6646 vendoring, and the one Metal
            # log of a partial offload (validation/points/partial_offload.toml, llama-3.1-70b on an M3 Max)
            # keeps the logits in its CPU compute buffer (448 MiB) with no copy in the Metal one
            return False, "Metal: the ops of host layers run on the CPU"
        if n_ub < OP_OFFLOAD_MIN_BATCH:
            return False, f"a micro-batch of {n_ub} tokens is below the {OP_OFFLOAD_MIN_BATCH} of op offload"
        return True, ""

    def partial_offload_compute(self, setup: Setup, full: int, *, output_bytes: int | None, host_layers: int,
                                kv_layer: int) -> tuple[int, int | None]:
        """Op offload (on unless --no-op-offload): ggml_backend_sched runs a matmul of a host-resident
        weight on the first GPU for micro-batches of >= 32 tokens, copying the weight into that GPU's
        compute buffer, one weight per split; a host layer's attention follows onto the GPU and copies
        the layer's K and V there. Sources, at ollama/ollama@f63eea3d273816ffc27fbeb0662ab44d236abc45
        (its vendored ggml and llama.cpp, llama.cpp commit ec98e2002):
        ml/backend/ggml/ggml/src/ggml-backend.cpp ggml_backend_sched_backend_id_from_cur ("check if a
        backend with higher prio wants to offload the op": sched->op_offload, batch >= 32, the weight in
        a host buffer, the first backend whose offload_op says yes) and ggml_backend_sched_split_graph
        (pass 2 "expand gpu up" gives the weightless attention ops of a host layer the GPU of its
        offloaded output projection; pass 5 "create a copy of the input in the split's backend" for
        each input whose buffer that backend cannot read, and "by starting a new split, the memory of
        the previously offloaded weights can be reused"; the copies are "allocated by ggml-alloc at
        the start of the split"); ml/backend/ggml/ggml/src/ggml-cuda/ggml-cuda.cu
        ggml_backend_cuda_device_offload_op ("min_batch_size = 32"; ggml-vulkan.cpp the same)."""
        on, _ = self.op_offload(setup)
        if not on:
            return full, None
        m = setup.spec
        h = m.hidden_size
        ub, n_kv = self.graph_tokens(setup)
        gpu = full
        if output_bytes is not None:
            # the output matmul's weight (lm_head and the final norm, at its GGUF type) copied to the GPU,
            # next to the f32 logits and the normed hidden rows it multiplies; ollama's own estimate has the
            # same term for a Q6_K output: "4*batch*(embedding+vocab) + embedding*vocab*105/128"
            # (fs/ggml/ggml.go GraphSize, partialOffload, same commit)
            gpu = max(gpu, output_bytes + ub * (m.vocab_size + h) * 4)
        if host_layers:
            # the first host layer's attention on the GPU: its K and V (n_kv cells) copied from host RAM;
            # with flash attention also the f32 KQ mask (a graph input, kept on the CPU: "1.inp") copied
            # in and its f16 cast (llama/llama.cpp/src/llama-graph.cpp: "self_kq_mask_cnv =
            # cparams.flash_attn ? ggml_cast(ctx0, inp->self_kq_mask, GGML_TYPE_F16)"), which layer 0
            # makes; without flash attention the mask and scores are in ``full`` already
            attn = kv_layer + (ub * n_kv * (4 + 2) if setup.flash_attention else
                               self._nofa_attention(setup))
            gpu = max(gpu, attn)
        # the host's compute buffer keeps the graph inputs (ggml-backend.cpp: "graph input" -> the CPU
        # backend): the f32 KQ mask, and the token-embedding rows (GET_ROWS is never offloaded:
        # get_op_batch_size returns 0 for it)
        host = ub * n_kv * 4 + ub * h * 4
        return gpu, host

    def _fa_ffn_stage(self, setup: Setup) -> int:
        """With flash attention, the compute buffer's high-water mark at the first layer's FFN (dense models).

        ggml-alloc (ggml_gallocr_alloc_graph_impl / ggml_dyn_tallocr_alloc: best fit among the free blocks,
        else the tail; a tensor freed after its last consumer) places, in graph order: the split's input
        copies first (ggml-backend.cpp ggml_backend_sched_split_graph: "add inputs to the graph copy so that
        they are allocated by ggml-alloc at the start of the split": the embedding rows, h per token, and the
        KQ mask), then layer 0. The f16 mask (src/llama-graph.cpp build_attn_inp_kv: "self_kq_mask_cnv =
        cparams.flash_attn ? ggml_cast(ctx0, inp->self_kq_mask, GGML_TYPE_F16)"), n_kv x n_ubatch x 2 B,
        stays live until the last layer's flash attention. At layer 0's FFN (build_ffn, LLM_FFN_PAR:
        ffn_gate and ffn_up, n_ubatch x I f32 each, and ggml_swiglu_split's output, a GLU that
        ggml_op_can_inplace does not reuse in place) the three I-sized tensors sit above the freed
        embedding rows, the mask, the freed ffn_norm rows (ffn_up is its last reader) and ffn_inp (read
        again by the residual add): n_ubatch x (3I + 3h) x 4 B + the f16 mask. Sources at
        ollama/ollama@f63eea3d273816ffc27fbeb0662ab44d236abc45 (vendored llama.cpp ec98e2002):
        llama/llama.cpp/src/llama-graph.cpp, src/models/qwen2.cpp and llama.cpp (the layer's node order),
        ml/backend/ggml/ggml/src/ggml-alloc.c, ggml-backend.cpp. Replaying that allocator over the qwen2 /
        llama graph gives these bytes to the 0.01 MiB of the small inputs for Qwen2.5-7B/32B (ae-llama's
        build-10240 probe), Codestral 22B and Mistral 7B (ollama); no number is fitted.
        A MoE layer's FFN is a different graph (build_moe_ffn), and a plain two-matrix MLP (no gate: its
        activation may run in place) was not replayed: 0 for both, the logits stay the estimate."""
        m = setup.spec
        if m.is_moe or not m.mlp_gated:
            return 0
        ub, n_kv = self.graph_tokens(setup)
        return ub * (3 * m.intermediate_size + 3 * m.hidden_size) * 4 + ub * n_kv * 2

    def _nofa_attention(self, setup: Setup) -> int:
        """The scores' bytes of inference_activations without flash attention."""
        m = setup.spec
        ub, n_ctx = self.graph_tokens(setup)
        return (ub * n_ctx * m.num_attention_heads * 4 + ub * n_ctx * 4
                + ub * K.LLAMACPP_NOFA_HIDDEN * m.hidden_size * 4)

    # --- plans ------------------------------------------------------------------------------------
    def plan(self, s: Scenario, gpus: tuple[GPUSpec, ...], host: Host, gpu_layers: int | None,
             tensor_split: Sequence[float] | None) -> Plan:
        from ..planners import layer_split_plan

        return layer_split_plan(s, gpus, host, gpu_layers, tensor_split)

    def launch_settings(self, s: Scenario, n: Mapping[str, Any]) -> list[Flag]:
        """The settings a layer-split plan fixes, in llama-server's flags."""
        from ..presets import gpu as gpu_preset
        from ..setup import Setup

        w = s.workload
        flash, why_fa = Setup(s, gpu_preset(s.hardware.verdict_gpu)).flash
        ngl, total = n["gpu_layers"], n["total_layers"]
        flags = [
            Flag("-m", f"{s.model.spec.id}-{w.weights.upper()}.gguf", f"the {w.weights.upper()} GGUF of {s.model.spec.name}"),
            Flag("-ngl", str(ngl), f"{ngl} of {total} layers fit the GPUs (the output layer counts as one)"
                 if ngl < total else f"all {total} layers fit the GPUs"),
            Flag("-c", str(w.context_length * w.batch_size),
                 f"{w.context_length:,} tokens × {w.batch_size} sequences: the slots share -c"),
            Flag("-np", str(w.batch_size), "parallel sequences (the scenario's batch)"),
            Flag("-fa", "on" if flash else "off", why_fa),
        ]
        if w.kv_cache != "fp16":
            kv = LLAMACPP_KV_TYPES[w.kv_cache]
            flags += [Flag("-ctk", kv, f"KV cache {w.kv_cache}"), Flag("-ctv", kv, f"KV cache {w.kv_cache}")]
        if s.model.draft:
            flags.append(Flag("-md", s.model.draft, "the draft model for speculative decoding: its weights and KV "
                              "cache on the first GPU"))
        if s.model.mmproj:
            flags.append(Flag("--mmproj", s.model.mmproj, "the vision projector, on the first GPU"))
        if n.get("shares"):
            flags.append(Flag("--tensor-split", ",".join(f"{x:g}" for x in n["shares"]), "the split asked for"))
        elif n["gpus"] > 1:
            flags.append(Flag("--tensor-split", "(default)", "llama.cpp splits layers by each GPU's free memory"))
        if n.get("n_cpu_moe"):
            flags.append(Flag("--n-cpu-moe", str(n["n_cpu_moe"]),
                              f"the routed experts of the first {n['n_cpu_moe']} layers stay in host RAM"))
        return flags

    def launch(self, s: Scenario, numbers: Mapping[str, Any], placement: Placement | None
               ) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
        flags = [f for f in self.launch_settings(s, numbers) if f.value != "(default)"]
        return "llama-server " + " ".join(f"{f.flag} {f.value}" for f in flags), tuple(flags), {}


# --cache-type-k / -v names (common/arg.cpp kv_cache_types)
LLAMACPP_KV_TYPES = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0"}


RUNTIME = LlamaCpp()
