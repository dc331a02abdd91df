"""Command line: ``vramtui [FILE]`` opens the TUI; ``estimate``, ``fit``, ``models``, ``gpus`` and
``import-config`` print tables or, with ``--json``, one JSON object. Bad input exits 2 with one line
on stderr and no traceback (DESIGN.md's CLI contract)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .core import presets
from .core.units import fmt_bytes, fmt_count, fmt_tokens, parse_money, parse_tokens, to_unit, within_budget

if TYPE_CHECKING:
    from pathlib import Path

    from .core.gpuspec import GPUSpec
    from .core.scenario import Scenario

# Each command imports the part of the core it uses when it runs, and its flags are added only when
# that command is parsed: `vramtui models` reads the preset index without the records or the estimator,
# and nothing here imports Textual, the Hub client, the GGUF reader or NVML unless a command needs it.

COMMANDS = ("estimate", "fit", "plan", "models", "gpus", "import-config", "validate", "measure")
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2."""


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` reads it ($COLUMNS, then stdout, else 80)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


class _Help(argparse.HelpFormatter):
    """argparse's own formatter, told the width: left to itself it imports ``shutil`` to read it (and
    shutil imports bz2 and lzma), ~3 ms of every command's start-up for a figure only help prints."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


def _tokens(text: str) -> int:
    try:
        return parse_tokens(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type for whole numbers of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


_positive, _count = _whole(1), _whole(0)


# The on/off settings: each a --flag / --no-flag pair, unset when neither is given
SWITCHES: tuple[tuple[str, str | None], ...] = (
    ("--flash-attention", None),
    ("--checkpointing", "gradient checkpointing"),
    ("--cpu-offload", None),
    ("--sequence-parallel", "training with --tp > 1: split the norms' activations along the sequence too"),
    ("--optimizer-in-backward", "step each parameter as its gradient is made (torchtune's optimizer_in_bwd)"),
    ("--activation-offloading", "saved activations wait in host RAM (torchtune's enable_activation_offloading)"),
    ("--legacy-cache", "transformers inference before 4.42: generate's tuple cache holds the previous step's "
                       "cache beside the new one"),
    ("--legacy-bnb", "QLoRA on bitsandbytes before 0.43.2: each 4-bit layer keeps its input for backward"),
    ("--quantized-lm-head", "QLoRA: lm_head is 4-bit too (LitGPT's --quantize bnb.*) and dequantized twice in "
                            "backward"),
    ("--untied-lm-head", "training: lm_head its own matrix even where the checkpoint ties it (LitGPT)"),
    ("--gradient-accumulation", "training: several micro-batches per optimizer step, so all gradients exist "
                                "during backward"),
    ("--kbit-upcast", "QLoRA: PEFT's prepare_model_for_kbit_training keeps embeddings, lm_head and norms in fp32 "
                      "(default: the runtime's way)"),
)


def _scenario_args(p: argparse.ArgumentParser) -> None:
    from .core.runtimes import RUNTIMES as RUNTIME_TABLE
    from .core.scenario import LOSSES, MODES, OPTIMIZERS, RECIPES, RUNTIMES

    p.add_argument("scenario", nargs="?", help="a scenario TOML file (flags override it)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help="a preset id (see `vramtui models`), a Hub id org/name[@revision], a model "
                                     "folder, or a .gguf file (local, or org/name/file.gguf on the Hub)")
    src.add_argument("--config", help="a Hugging Face config.json")
    p.add_argument("--mmproj", metavar="FILE.gguf", help="with a .gguf --model: its vision projector (llama.cpp --mmproj)")
    p.add_argument("--draft", metavar="MODEL", help="a draft model for speculative decoding (preset, Hub id or .gguf)")
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--weights", help="weight format: bf16, fp8, int8, nf4, gptq-int4, q4_k_m, ...")
    p.add_argument("--kv-cache", help="KV-cache format: fp16, bf16, fp8, q8_0, q4_0, fp32")
    p.add_argument("--context", type=_tokens, help="tokens per sequence: 8192, 8k, 128K")
    p.add_argument("--batch", type=_positive)
    p.add_argument("--runtime", choices=RUNTIMES, help="; ".join(f"{r.id}: {r.summary}" for r in RUNTIME_TABLE.values()))
    p.add_argument("--gpu-memory-utilization", type=_share, metavar="SHARE",
                   help="vLLM's gpu_memory_utilization / SGLang's mem_fraction_static (default: the runtime's)")
    p.add_argument("--recipe", choices=RECIPES, help="training precision recipe")
    p.add_argument("--lora-rank", type=_positive)
    p.add_argument("--lora-targets", help="comma-separated, or all-linear")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--loss", choices=LOSSES, help="training: fp32-logits (transformers), bf16-logits, chunked (fused CE)")
    p.add_argument("--zero", type=int, choices=range(4), metavar="{0,1,2,3}", help="ZeRO stage")
    p.add_argument("--tp", type=_positive, help="tensor parallel degree")
    p.add_argument("--pp", type=_positive, help="pipeline parallel degree")
    p.add_argument("--dp", type=_positive, help="data parallel degree")
    for flag, help_text in SWITCHES:  # on / off / unset (the runtime's default)
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    p.add_argument("--gpus", help="comma-separated GPU ids (see `vramtui gpus`)")
    p.add_argument("--method", choices=("precise", "guide"), default="precise")
    p.add_argument("--unit", choices=("GiB", "GB"), default="GiB")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _estimate_args(p: argparse.ArgumentParser) -> None:
    _scenario_args(p)


def _fit_args(p: argparse.ArgumentParser) -> None:
    _scenario_args(p)
    p.add_argument("--sort", choices=("need", "headroom", "price", "price-per-gib", "speed", "max-context", "name"), default=None)
    p.add_argument("--budget", type=_money, metavar="USD", help="the most the GPUs needed may cost in all: 2000, $2,000, 2k")
    p.add_argument("--fits-only", action="store_true", help="only the GPUs the scenario fits on")
    p.add_argument("--vendor", choices=("nvidia", "amd", "apple", "intel"))


def _plan_args(p: argparse.ArgumentParser) -> None:
    _scenario_args(p)
    p.add_argument("--gpu-layers", type=_count, metavar="N",
                   help="llama.cpp/ollama: evaluate -ngl N instead of searching for the largest that fits")
    p.add_argument("--tensor-split", metavar="A,B", help="llama.cpp/ollama: each GPU's share of the layers")
    p.add_argument("--host-ram", type=_bytes, metavar="SIZE", help="host memory to check against (64G, 128GiB)")
    p.add_argument("--host-bandwidth", type=float, metavar="GB/s",
                   help="host memory bandwidth for the CPU part of decode (default 89.6: dual-channel DDR5-5600)")


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("filter", nargs="?", default="", help="substring of id, name or family")
    p.add_argument("--family")
    p.add_argument("--json", action="store_true")


def _gpus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("filter", nargs="?", default="")
    p.add_argument("--vendor", choices=("nvidia", "amd", "apple", "intel"))
    p.add_argument("--json", action="store_true")


def _import_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")
    p.add_argument("--id", help="preset id (default: from the folder name)")
    p.add_argument("--name", help="display name")
    p.add_argument("-o", "--output", help="write the preset TOML here (default: stdout)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (kept as .bak)")


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--points", help="a folder of point files (default: the bundled validation set)")
    p.add_argument("--details", action="store_true", help="every measured figure, not just each point's total")
    p.add_argument("--json", action="store_true")
    p.add_argument("--markdown", action="store_true", help="the tables of docs/accuracy.md")


def _measure_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a scenario TOML file")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu only checks the harness")
    p.add_argument("--new-tokens", type=_positive, default=8, help="tokens generated in inference mode")
    p.add_argument("--json", action="store_true")


# command -> (help, its flags), in the order `vramtui --help` lists them
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "estimate": ("memory per component for one scenario", _estimate_args),
    "fit": ("the GPU grid: fits, headroom, GPUs needed, max context/batch, speed, price", _fit_args),
    "plan": ("what goes on which GPU, what stays in host RAM, and the command that runs it", _plan_args),
    "models": ("list model presets", _models_args),
    "gpus": ("list GPU presets", _gpus_args),
    "import-config": ("write a model preset from a Hugging Face config.json", _import_config_args),
    "validate": ("compare both methods with published measurements (validation/)", _validate_args),
    "measure": ("run the scenario's model (random weights) on this machine's GPU and compare", _measure_args),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``command``, only that command's flags are added (the others keep their
    help line), so parsing `vramtui models` does not import what the estimator's flags list."""
    parser = _Parser(prog="vramtui", description="Will this model fit in GPU memory, on which GPUs, how fast?")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (help_text, add_flags) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if command is None or command == name:
            add_flags(p)
    return parser


# --- scenario from file + flags --------------------------------------------------------------


def scenario_from_args(a: argparse.Namespace) -> Scenario:
    # pathlib (which brings urllib.parse and ipaddress, ~3 ms) only where a path is given: a preset
    # with flags, the usual command, needs none
    from .core.io import default_scenario, load_scenario, scenario_from_dict, scenario_to_dict

    base_dir: Path | None = None  # the working folder, when no scenario file says otherwise
    if a.scenario:
        from pathlib import Path

        path = Path(a.scenario)
        base = load_scenario(path)  # validates the file as written
        doc = scenario_to_dict(base)
        base_dir = path.parent
    else:
        doc = scenario_to_dict(default_scenario())
    if a.model:
        from .core.sources.resolve import model_table

        doc["model"] = model_table(a.model)
        if a.mmproj:
            from pathlib import Path

            doc["model"]["mmproj"] = str(Path(a.mmproj).expanduser().resolve())
        if "preset" not in doc["model"]:  # a checkpoint's own format and runtime, unless flags say otherwise
            doc["workload"].pop("weights", None)
            doc["workload"].pop("runtime", None)
    elif a.config:
        from pathlib import Path

        doc["model"] = {"config": str(Path(a.config).resolve())}
    if a.draft:
        doc["model"]["draft"] = a.draft
    w, o = doc["workload"], doc["optimizations"]
    for flag, key in (("mode", "mode"), ("weights", "weights"), ("kv_cache", "kv_cache"), ("context", "context_length"),
                      ("batch", "batch_size"), ("runtime", "runtime"), ("recipe", "recipe"),
                      ("gpu_memory_utilization", "gpu_memory_utilization")):
        if getattr(a, flag) is not None:
            w[key] = getattr(a, flag)
    if a.mode == "qlora" and a.weights is None and not _is_4bit(w["weights"]):
        w["weights"] = "nf4-dq"  # QLoRA's base is NF4 with double quantisation (QLoRA paper)
    for flag, key in (("lora_rank", "lora_rank"), ("optimizer", "optimizer"), ("loss", "loss"), ("zero", "zero_stage"),
                      ("tp", "tensor_parallel"), ("pp", "pipeline_parallel"), ("dp", "data_parallel"),
                      ("flash_attention", "flash_attention"), ("checkpointing", "gradient_checkpointing"),
                      ("cpu_offload", "cpu_offload"), ("sequence_parallel", "sequence_parallel"),
                      ("kbit_upcast", "kbit_upcast"), ("optimizer_in_backward", "optimizer_in_backward"),
                      ("activation_offloading", "activation_offloading"), ("legacy_cache", "legacy_cache"),
                      ("legacy_bnb", "legacy_bnb"), ("quantized_lm_head", "quantized_lm_head"),
                      ("untied_lm_head", "untied_lm_head"),
                      ("gradient_accumulation", "gradient_accumulation")):
        if getattr(a, flag) is not None:
            o[key] = getattr(a, flag)
    if a.lora_targets:
        o["lora_targets"] = [t.strip() for t in a.lora_targets.split(",") if t.strip()]
    if a.gpus:
        doc["hardware"] = {"gpus": [g.strip() for g in a.gpus.split(",") if g.strip()]}
    if base_dir is None and (set(doc["model"]) - {"preset", "hub", "revision"} or "draft" in doc["model"]):
        from pathlib import Path

        base_dir = Path.cwd()  # a relative path in the model table reads from here
    return scenario_from_dict(doc, base_dir)


# flags whose setting can have no effect on a scenario (core/fields.py says when)
FIELD_FLAGS = {"recipe": "recipe", "gpu_memory_utilization": "gpu_memory_utilization", "lora_rank": "lora_rank",
               "lora_targets": "lora_targets", "optimizer": "optimizer", "loss": "loss", "zero": "zero_stage",
               "dp": "data_parallel", "checkpointing": "gradient_checkpointing", "cpu_offload": "cpu_offload",
               "sequence_parallel": "sequence_parallel", "kbit_upcast": "kbit_upcast",
               "optimizer_in_backward": "optimizer_in_backward", "activation_offloading": "activation_offloading",
               "legacy_cache": "legacy_cache", "legacy_bnb": "legacy_bnb", "quantized_lm_head": "quantized_lm_head",
               "untied_lm_head": "untied_lm_head",
               "gradient_accumulation": "gradient_accumulation"}


def _unused_flags(a: argparse.Namespace, s: Scenario) -> list[str]:
    """A warning for each flag given that the scenario ignores, in the words the screens use."""
    from .core.fields import why_off

    out = []
    for flag, field in FIELD_FLAGS.items():
        reason = why_off(s, field) if getattr(a, flag, None) is not None else None
        if reason:
            out.append(f"--{flag.replace('_', '-')} has no effect here: {reason}")
    return out


def _bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(G|GB|GiB|T|TB|TiB)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use 64G or 128GiB")
    scale = 1 << 40 if (m.group(2) or "G").upper().startswith("T") else 1 << 30
    return int(float(m.group(1)) * scale)


def plan_gpus(text: str | None, s: Scenario) -> tuple[list[GPUSpec], int | None]:
    """The devices of a plan: preset ids (``2xrtx-4090`` repeats one), ``local``, or the verdict GPU;
    and the host RAM when the machine was read."""
    if text is None:
        return [presets.gpu(s.hardware.verdict_gpu)], None
    if text.strip() == "local":
        from .core.local_gpus import LocalGPUError, detect
        from .core.local_specs import local_specs

        try:
            machine = detect()
        except LocalGPUError as exc:
            raise UsageError(f"--gpus local: {exc}") from None
        return local_specs(machine), machine.host_total_bytes
    out = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        m = re.fullmatch(r"(\d+)x(.+)", item)
        count, gid = (int(m.group(1)), m.group(2)) if m else (1, item)
        if not 1 <= count <= 64:
            raise UsageError(f"--gpus: {item!r}: between 1 and 64 cards of one kind")
        out += [presets.gpu(gid)] * count
    if not out:
        raise UsageError("--gpus: give GPU ids (see `vramtui gpus`), e.g. rtx-3090,rtx-3060-12gb or 2xrtx-4090")
    return out, None


def cmd_plan(a: argparse.Namespace) -> int:
    from .core.plan import HOST_BANDWIDTH_GBS, Host, PlanError, plan

    gpus_text, a.gpus = a.gpus, None  # --gpus names the plan's devices here, not the grid's
    s = scenario_from_args(a)
    gpus, host_ram = plan_gpus(gpus_text, s)
    split = None
    if a.tensor_split:
        try:
            split = [float(x) for x in a.tensor_split.split(",")]
        except ValueError:
            raise UsageError(f"--tensor-split: {a.tensor_split!r}: give one number per GPU, e.g. 3,1") from None
    host = Host(a.host_ram if a.host_ram is not None else host_ram, a.host_bandwidth or HOST_BANDWIDTH_GBS)
    try:
        p = plan(s, gpus, host, gpu_layers=a.gpu_layers, tensor_split=split)
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    if a.json:
        print(json.dumps(p.to_json()))
        return 0
    u = a.unit
    print(f"{s.summary}  [plan]")
    print(("✔ " if p.fits else "✘ ") + p.summary)
    rows = [[str(i), d.gpu.id, "" if d.layers is None else str(d.layers)]
            + [f"{to_unit(d.parts.get(k, 0), u):.2f}" for k in ("weights", "kv_cache", "activations", "overhead")]
            + [f"{to_unit(d.bytes, u):.2f}", f"{to_unit(d.usable_bytes, u):.2f}", "yes" if d.fits else "NO"]
            for i, d in enumerate(p.devices)]
    print(_table(["#", "gpu", "layers", "weights", "KV", "compute", "overhead", f"total {u}", f"usable {u}", "fits"],
                 rows, right=set(range(2, 10))))
    if p.host_bytes:
        parts = ", ".join(f"{k.replace('_', ' ')} {fmt_bytes(v, u)}" for k, v in p.host_parts.items() if v)
        print(f"host RAM: {fmt_bytes(p.host_bytes, u)} ({parts})")
    if p.tokens_per_s:
        print(f"decode: ~{p.tokens_per_s:.1f} tokens/s per sequence (memory-bandwidth bound)")
    if p.max_context:
        print(f"max context on this split: {fmt_tokens(p.max_context)}")
    alt = p.details.get("moe_alternative")
    if alt:
        print(f"MoE alternative: {alt['why']}: ~{alt['tokens_per_s']} tokens/s\n  {alt['command']}")
    for w in p.warnings:
        print(f"warning: {w}")
    print(f"\n{p.command}")
    for f in p.flags:
        print(f"  {f.flag} {f.value}".rstrip() + f"   # {f.why}")
    for name, text in p.files.items():
        print(f"\n--- {name}\n{text}", end="")
    return 0


def _money(text: str) -> float:
    try:
        return parse_money(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; use a share such as 0.9") from None
    from .core.fields import bounds

    lo, hi = bounds("gpu_memory_utilization")
    if not (lo or 0) < value <= (hi or 1):
        raise argparse.ArgumentTypeError(f"{text!r} must be above {lo} and at most {hi}")
    return value


def _is_4bit(fmt: str) -> bool:
    from .core.formats import FormatError, weight_format

    try:
        return weight_format(fmt).is_4bit
    except FormatError:
        return False


# --- output -----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(headers)))
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _inputs_json(s: Scenario) -> dict:
    """The scenario as a file would hold it, and what the runtime decided on the verdict GPU: a JSON
    answer says what it answers."""
    from .core.io import scenario_to_dict
    from .core.setup import Setup

    return {"scenario": scenario_to_dict(s), "resolved": Setup(s, presets.gpu(s.hardware.verdict_gpu)).resolved()}


def cmd_estimate(a: argparse.Namespace) -> int:
    from .core.estimate import COMPONENTS
    from .core.methods import estimate

    s = scenario_from_args(a)
    e = estimate(s, a.method)
    if a.json:
        out = {**e.to_json(), "model_source": s.model.source_json(), **_inputs_json(s)}
        out["warnings"] = [*out["warnings"], *_unused_flags(a, s)]
        if a.gpus:  # the verdict on each GPU named, as the TUI's grid gives it
            from .core.fit import fit_grid

            keys = ("gpu", "name", "fits", "need_bytes", "usable_bytes", "headroom_bytes", "gpus_needed")
            out["verdicts"] = [{k: f.to_json()[k] for k in keys} for f in fit_grid(s, a.method, est=e)]
        print(json.dumps(out))
        return 0
    for w in _unused_flags(a, s):
        print(f"warning: {w}", file=sys.stderr)
    unit = a.unit
    print(f"{s.summary}  [{a.method}]")
    print(f"parameters: {e.parameters:,} ({fmt_count(e.parameters)})"
          + (f", trainable {e.trainable_parameters:,}" if e.trainable_parameters else ""))
    rows = []
    total = max(1, e.per_gpu_bytes)
    for k in COMPONENTS:
        v = e.per_gpu[k]
        rows.append([k.replace("_", " "), fmt_bytes(v, unit), f"{100 * v / total:5.1f} %", e.why.get(k, "")])
    rows.append(["per GPU", fmt_bytes(e.per_gpu_bytes, unit), "100.0 %", f"× {e.gpus} GPU(s) = {fmt_bytes(e.total_bytes, unit)}"])
    print(_table(["component", "memory", "share", "how"], rows, right={1, 2}))
    for n in e.notes:
        print(f"note: {n}")
    _print_warnings(s, e.warnings)
    return 0


def _print_warnings(s: Scenario, warnings: Sequence[str]) -> None:
    for w in warnings:
        print(f"warning: {w}")


SORT_KEYS = {
    "need": lambda f: f.need_bytes,
    "headroom": lambda f: -f.headroom_bytes,
    "price": lambda f: f.price_usd,
    "price-per-gib": lambda f: f.price_per_gib or 0,
    "speed": lambda f: -(f.tokens_per_s or 0),
    "max-context": lambda f: -f.max_context,
    "name": lambda f: f.gpu.name,
}


def cmd_fit(a: argparse.Namespace) -> int:
    from .core.fit import fit_grid
    from .core.methods import estimate
    from .core.runtimes import runtime

    s = scenario_from_args(a)
    grid = fit_grid(s, a.method)
    grid = [f for f in grid if (not a.fits_only or f.fits) and (not a.vendor or f.gpu.vendor == a.vendor)
            and within_budget(f.price_usd, f.gpus_needed, a.budget)]
    if not grid and not a.json:
        print("no GPU matches --fits-only / --vendor / --budget (the budget covers every GPU the scenario needs)")
        return 0
    if a.sort:
        grid = sorted(grid, key=SORT_KEYS[a.sort])
    if a.json:
        e = estimate(s, a.method)
        print(json.dumps({"method": a.method, "per_gpu_bytes": e.per_gpu_bytes, "warnings": list(e.warnings),
                          **_inputs_json(s), "gpus": [f.to_json() for f in grid]}))
        return 0
    u = a.unit
    print(f"{s.summary}  [{a.method}]")
    rows = []
    for f in grid:
        ctx = ("≥" if f.max_context_capped else "") + fmt_tokens(f.max_context) if f.max_context else "—"
        rows.append([
            f.gpu.id, f"{to_unit(f.need_bytes, u):.1f}", f"{to_unit(f.usable_bytes, u):.1f}",
            "yes" if f.fits else "NO", f"{to_unit(f.headroom_bytes, u):+.1f}",
            f.gpus_needed or ">8", ctx, f.max_batch or "—",
            f"{f.tokens_per_s:.0f}" if f.tokens_per_s else "—",
            f"${f.price_usd:,.0f}", f"${f.price_per_gib:,.0f}" if f.price_per_gib else "—",
        ])
    print(_table(["gpu", f"need {u}", f"usable {u}", "fits", "headroom", "GPUs", "max ctx", "max batch",
                  "tok/s", "price", "$/GiB"], rows, right=set(range(1, 11))))
    label = runtime(s.workload.runtime).label
    for f in grid:
        if f.kv_capacity_tokens is not None:
            print(f"{label} on {f.gpu.id}: KV capacity {f.kv_capacity_tokens:,} tokens = {f.kv_capacity_sequences} "
                  f"sequences of {fmt_tokens(s.workload.context_length)}")
    _print_warnings(s, estimate(s, a.method).warnings)
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    needle = a.filter.lower()
    rows = [m for m in presets.model_entries().values()
            if (not a.family or m.family == a.family.lower()) and presets.matches(m, needle)]
    if a.json:
        print(json.dumps({"models": [{"id": m.id, "name": m.name, "family": m.family, "parameters": m.total_parameters,
                                      "context": m.max_position_embeddings, "features": m.features} for m in rows]}))
        return 0
    if not rows:
        raise UsageError(f"no model preset matches {a.filter!r}")
    print(_table(["id", "name", "params", "context", "features"],
                 [[m.id, m.name, fmt_count(m.total_parameters), fmt_tokens(m.max_position_embeddings), " ".join(m.features)]
                  for m in rows], right={2, 3}))
    return 0


def cmd_gpus(a: argparse.Namespace) -> int:
    needle = a.filter.lower()
    rows = [g for g in presets.gpus().values()
            if (not a.vendor or g.vendor == a.vendor) and (needle in g.id or needle in g.name.lower())]
    if a.json:
        print(json.dumps({"gpus": [g.model_dump() for g in rows]}))
        return 0
    if not rows:
        raise UsageError(f"no GPU preset matches {a.filter!r}")
    print(_table(["id", "name", "MiB", "GB/s", "bf16 TF", "price"],
                 [[g.id, g.name, f"{g.memory_mib:,}", f"{g.bandwidth_gbs:,.0f}", f"{g.bf16_tflops or g.fp16_tflops:g}",
                   f"${g.price_usd:,.0f}"] for g in rows], right={2, 3, 4, 5}))
    return 0


def cmd_import_config(a: argparse.Namespace) -> int:
    import tomli_w

    from .core.hfconfig import load_config
    from .core.io import write_atomic

    spec = load_config(a.config, a.name or "")
    update: dict[str, Any] = {"source": str(a.config), "parameters": None}
    if a.id:
        update["id"] = a.id
    if a.name:
        update["name"] = a.name
    spec = spec.model_validate({**spec.model_dump(), **update})
    entry = spec.model_dump(exclude_none=True, exclude_defaults=False)
    entry = {k: v for k, v in entry.items() if v not in ("", None)}
    text = "# imported by `vramtui import-config`; derived parameters: " + f"{spec.total_parameters:,}\n"
    text += tomli_w.dumps({"models": [entry]})
    if a.output:
        from pathlib import Path

        out = Path(a.output)
        if out.exists() and not a.force:
            raise UsageError(f"{out} exists; add --force to replace it (the old one is kept as {out.name}.bak)")
        write_atomic(out, text.encode("utf-8"))
        print(f"wrote {out} ({spec.id}, {spec.total_parameters:,} parameters)")
    else:
        sys.stdout.write(text)
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.validation import calibrates, calibration_terms, figure, summarize, validate

    folder = Path(a.points) if a.points else None
    terms = calibration_terms()
    runs = {m: validate(m, folder) for m in ("precise", "guide")}
    if a.json:
        print(json.dumps({m: {"points": [
            {"id": r.point.id, "runtime": r.point.runtime, "mode": r.point.mode,
             "calibrates": calibrates(r.point, terms),
             "total": None if r.total is None else {"measure": r.total.measure, "measured": r.total.measured,
                                                    "estimated": r.total.estimated, "error": r.total.error},
             "components": [{"measure": c.measure, "measured": c.measured, "estimated": c.estimated, "error": c.error}
                            for c in r.comparisons]} for r in rs],
            "summary": [g.__dict__ for g in summarize(rs)]} for m, rs in runs.items()}))
        return 0
    precise, guide = runs["precise"], runs["guide"]
    if a.markdown:
        print(validation_markdown(precise, guide))
        return 0
    rows = []
    for p, g in zip(precise, guide, strict=True):
        if p.total is None:
            continue
        t = p.total
        rows.append([p.point.id, p.group[0], p.point.mode, t.measure, figure(t.measure, t.measured),
                     figure(t.measure, t.estimated), f"{100 * t.error:+.1f} %",
                     f"{100 * g.total.error:+.1f} %" if g.total else "—"])
        if a.details:
            for c in p.comparisons:
                rows.append(["", "", "", f"  {c.measure}", figure(c.measure, c.measured), figure(c.measure, c.estimated),
                             f"{100 * c.error:+.1f} %", ""])
    print(_table(["point", "runtime / table", "mode", "measured", "value", "precise", "error", "guide error"], rows,
                 right={4, 5, 6, 7}))
    print()
    gsum = {(x.runtime, x.mode): x for x in summarize(guide)}
    srows = []
    for x in summarize(precise):
        gs = gsum.get((x.runtime, x.mode))
        srows.append([x.runtime, x.mode, x.points, f"{100 * x.median_abs:.1f} %", f"{100 * x.worst_abs:.1f} %", x.worst_id,
                      f"{100 * gs.median_abs:.1f} %" if gs else "—"])
    print(_table(["runtime / table", "mode", "points", "median |error|", "worst", "worst point", "guide median"], srows,
                 right={2, 3, 4, 6}))
    return 0


def validation_markdown(precise, guide) -> str:
    from .core.validation import calibration_terms
    from .core.validation_report import markdown

    return markdown(precise, guide, calibration_terms())


def cmd_measure(a: argparse.Namespace) -> int:
    from .core.io import load_scenario
    from .measure import MeasureError, measure

    s = load_scenario(a.scenario)
    try:
        m = measure(s, a.device, a.new_tokens)
    except MeasureError as exc:
        raise UsageError(str(exc)) from None
    if a.json:
        print(json.dumps(m.to_json()))
        return 0
    print(f"{s.summary}  on {m.device} in {m.seconds:.1f} s")
    if m.ran:
        print("ran: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m.ran.items()))
    est = m.estimate
    if m.device == "cuda":
        # measure() sets all three on a CUDA run
        assert m.max_allocated is not None and m.max_reserved is not None and m.device_used is not None
        rows = [["torch max_memory_allocated", fmt_bytes(m.max_allocated), fmt_bytes(est["allocated"]),
                 f"{100 * (est['allocated'] - m.max_allocated) / m.max_allocated:+.1f} %"],
                ["torch max_memory_reserved", fmt_bytes(m.max_reserved), "", ""],
                ["device memory used (nvidia-smi)", fmt_bytes(m.device_used), fmt_bytes(est["card"]),
                 f"{100 * (est['card'] - m.device_used) / m.device_used:+.1f} %"]]
        print(_table(["", "measured", "estimated", "error"], rows))
    else:
        assert m.rss_growth is not None  # measure() sets it on a CPU run
        print(f"harness ran on the CPU; process memory grew by {fmt_bytes(m.rss_growth)} "
              f"(the GPU estimate is {fmt_bytes(est['card'])}; CPU memory is not comparable)")
    return 0


HANDLERS = {"plan": cmd_plan, "measure": cmd_measure, "validate": cmd_validate, "estimate": cmd_estimate, "fit": cmd_fit, "models": cmd_models, "gpus": cmd_gpus,
            "import-config": cmd_import_config}


def run_tui(path: str | None) -> int:
    from .tui.app import run

    return run(path)


def _user_errors() -> tuple[type[Exception], ...]:
    """The core's errors that are the user's input, not a bug: imported only once one is raised
    (an ``except`` clause evaluates its classes only when an exception reaches it)."""
    from .core.formats import FormatError
    from .core.hfconfig import ConfigImportError
    from .core.io import ScenarioError

    return ScenarioError, ConfigImportError, FormatError


def _validation_error() -> type[Exception]:
    from .core.record import ValidationError

    return ValidationError


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] in (["--version"], ["-V"]):
            from importlib.metadata import version

            print(f"vramtui {version('vramtui')}")
            return 0
        if args and args[0] in COMMANDS or args[:1] in (["-h"], ["--help"]):
            ns = build_parser(args[0]).parse_args(args)
            return HANDLERS[ns.command](ns)
        if len(args) > 1:
            raise UsageError(f"vramtui: expected one scenario file, got {len(args)} arguments; commands: {', '.join(COMMANDS)}")
        return run_tui(args[0] if args else None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except (UsageError, presets.PresetError) as exc:
        print(f"error: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except _user_errors() as exc:
        print(f"error: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except _validation_error() as exc:
        from .core.errors import describe

        print(f"error: {describe(exc)}", file=sys.stderr)  # type: ignore[arg-type]
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
