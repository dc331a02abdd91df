"""ollama: llama.cpp's engine (``llama-server`` since ollama 0.30) started with ollama's own defaults.

Sources are ollama's tree at ``ollama/ollama@fb30760996871fa9460115c753afd2c60d4ab0f7``:
``llm/llama_server.go`` passes ``-c num_ctx*num_parallel -np num_parallel``, ``-b N -ub N`` (num_batch,
512 by default: api/types.go) and ``--flash-attn auto`` unless the user sets OLLAMA_FLASH_ATTENTION;
``server/sched.go`` keeps ``MinimumMemory`` free on every GPU (``ml/device.go``). That tree also has a
num_batch that grows with the context (``generationBatchForContext``), but every published log up to
ollama 0.30.7 (validation/points) runs n_ubatch 512 at contexts up to 131,072, so the estimate keeps
512 until a log shows the larger batch.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from ..formula import explain, mib
from ..plan import Flag
from ..units import GiB, MiB
from .base import Part
from .llamacpp import LlamaCpp

if TYPE_CHECKING:
    from ..gpuspec import GPUSpec
    from ..layer_split import Placement
    from ..scenario import Scenario
    from ..setup import Setup

# ml/device.go DeviceInfo.MinimumMemory: "return 457 * format.MebiByte" (512 MiB on Metal); the
# scheduler subtracts it from each GPU's free memory before placing layers (server/sched.go)
MINIMUM_MEMORY_MIB = {"apple": 512}
MINIMUM_MEMORY_MIB_DEFAULT = 457
# server/routes.go: the default num_ctx from total VRAM (thresholds 47/23 GiB)
CONTEXT_BY_VRAM = ((47 * GiB, 262144), (23 * GiB, 32768))
CONTEXT_DEFAULT = 4096


class Ollama(LlamaCpp):
    id = "ollama"
    label = "ollama"
    summary = "ollama: llama.cpp's llama-server with ollama's defaults (num_ctx by VRAM, num_batch by context)"
    modes_reason = "ollama runs inference only; train with transformers (PEFT/TRL) and import the result"

    def gpu_key(self, gpu: GPUSpec, s: Scenario) -> Hashable:
        return MINIMUM_MEMORY_MIB.get(gpu.vendor, MINIMUM_MEMORY_MIB_DEFAULT)

    def loads_extra_modules(self, s: Scenario) -> tuple[bool, str]:
        # a vision model's projector is a layer of its manifest (application/vnd.ollama.image.projector,
        # server/images.go), which ollama hands to its runner with the model; its own engine reads the
        # vision tensors from the one GGUF
        return True, ""


    def default_context(self, gpus: list[GPUSpec]) -> int:
        """num_ctx when neither the request nor OLLAMA_CONTEXT_LENGTH sets it."""
        total = sum(g.memory_bytes for g in gpus)
        return next((ctx for above, ctx in CONTEXT_BY_VRAM if total >= above), CONTEXT_DEFAULT)

    def warnings(self, setup: Setup) -> list[str]:
        ctx, default = setup.context, self.default_context([setup.gpu])
        if ctx == default:
            return []
        return [f"ollama sets num_ctx = {default:,} on {setup.gpu.name} (server/routes.go, by VRAM) unless the request, "
                f"the Modelfile (PARAMETER num_ctx {ctx}) or OLLAMA_CONTEXT_LENGTH sets {ctx:,}; the KV cache follows num_ctx"]

    def flash_attention_default(self, s: Scenario) -> tuple[bool, str]:
        return True, "ollama passes --flash-attn auto to llama-server unless OLLAMA_FLASH_ATTENTION is set"

    def overhead(self, setup: Setup, per: Mapping[str, int]) -> Part:
        keep = MINIMUM_MEMORY_MIB.get(setup.gpu.vendor, MINIMUM_MEMORY_MIB_DEFAULT)
        bytes_, f = self.base_overhead(setup, per)
        return Part(bytes_ + keep * MiB, explain(f + mib(keep, "ollama keeps free per GPU"),
                                                 "CUDA context and llama.cpp's own allocations",
                                                 "ollama's MinimumMemory reserve"))

    def launch(self, s: Scenario, numbers: Mapping[str, Any], placement: Placement | None
               ) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
        """A Modelfile with the plan's num_ctx / num_gpu, and the server's environment."""
        by = {f.flag: f for f in self.launch_settings(s, numbers)}
        w, name = s.workload, f"vramtui-{s.model.spec.id}"
        flags = [
            Flag("FROM", by["-m"].value, by["-m"].why),
            Flag("PARAMETER num_ctx", str(w.context_length), "tokens per sequence (ollama multiplies by OLLAMA_NUM_PARALLEL)"),
            Flag("PARAMETER num_gpu", by["-ngl"].value, by["-ngl"].why + "; ollama's num_gpu counts layers as -ngl does"),
            Flag("OLLAMA_NUM_PARALLEL", str(w.batch_size), by["-np"].why),
            Flag("OLLAMA_FLASH_ATTENTION", "1" if by["-fa"].value == "on" else "0", by["-fa"].why),
        ]
        if "-ctk" in by:
            flags.append(Flag("OLLAMA_KV_CACHE_TYPE", by["-ctk"].value, by["-ctk"].why))
        modelfile = "\n".join(f"{f.flag} {f.value}" for f in flags if f.flag.startswith(("FROM", "PARAMETER"))) + "\n"
        env = " ".join(f"{f.flag}={f.value}" for f in flags if f.flag.startswith("OLLAMA_"))
        command = f"{env} ollama serve & ollama create {name} -f Modelfile && ollama run {name}"
        return command, tuple(flags), {"Modelfile": modelfile}


RUNTIME = Ollama()
