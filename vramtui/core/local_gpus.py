"""The GPUs and host memory of this machine, for ``vramtui plan --gpus local``.

Sources, tried in order; the first that finds a GPU wins:

1. NVIDIA through NVML (the ``nvidia-ml-py`` package, imported only when asked);
2. AMD through ``rocm-smi --showproductname --showmeminfo vram --json``;
3. Apple Silicon through ``sysctl`` (unified memory, see :func:`apple_gpus`).

Each source is a small function that takes its raw data (a module, a command runner, a sysctl reader) so
tests feed recorded outputs. :func:`detect` raises nothing but :class:`LocalGPUError`, whose message is
one line naming every source tried and why it found nothing.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .units import GiB, KiB, MiB

ROCM_SMI = ("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json")
TIMEOUT_S = 5.0
# rocm-smi also lists an APU's iGPU (e.g. a Ryzen 7000 "Raphael" with a 64 MiB carve-out) next to the card;
# a device with less VRAM than this is not one to plan a model on.
MIN_GPU_BYTES = 1 * GiB

Runner = Callable[[Sequence[str]], str]
"""Runs argv (no shell) and returns stdout; raises FileNotFoundError when the program is missing,
subprocess.TimeoutExpired, or subprocess.CalledProcessError on a non-zero exit."""
Sysctl = Callable[[str], str | None]
"""``sysctl -n NAME``: the value as text, or None when the name is unknown."""


class LocalGPUError(ValueError):
    """No usable GPU on this machine; the message is one line and names what was tried."""


class Unavailable(Exception):
    """One source found no GPU; the message says why, as a phrase for LocalGPUError's list."""


@dataclass(frozen=True)
class LocalGPU:
    index: int
    name: str  # as the driver reports it, e.g. "NVIDIA GeForce RTX 4090"
    vendor: str  # "nvidia" | "amd" | "apple"
    total_bytes: int
    free_bytes: int  # what a new process can still use now
    source: str  # "nvml" | "rocm-smi" | "apple sysctl"


@dataclass(frozen=True)
class LocalMachine:
    gpus: tuple[LocalGPU, ...]
    # Physical RAM: /proc/meminfo MemTotal, or sysctl hw.memsize on macOS. On Apple Silicon this is the
    # same unified memory the GPU draws from: the GPU's total_bytes is part of it, not in addition to it.
    host_total_bytes: int | None
    host_available_bytes: int | None  # /proc/meminfo MemAvailable (None on macOS)


def run_command(argv: Sequence[str]) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT_S, check=True).stdout


def run_sysctl(name: str, run: Runner = run_command) -> str | None:
    try:
        return run(["sysctl", "-n", name]).strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _line(exc: BaseException) -> str:
    """An exception as a short single line, for a reason inside LocalGPUError's message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ---- NVIDIA: NVML --------------------------------------------------------------------------------------


def nvml_gpus(nvml: Any = None) -> list[LocalGPU]:
    """NVIDIA GPUs through NVML; ``nvml`` is the pynvml module (default: import it now, not at start-up)."""
    if nvml is None:
        try:
            import pynvml  # nvidia-ml-py; imported here, not at start-up

            nvml = pynvml
        except ImportError:
            raise Unavailable("NVML is not available (nvidia-ml-py is not installed)") from None
    try:
        nvml.nvmlInit()
    except Exception as exc:  # pynvml.NVMLError: no driver, no library, driver/library mismatch
        raise Unavailable(f"NVML has no NVIDIA GPU ({_line(exc)})") from None
    try:
        gpus = []
        for i in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):  # nvidia-ml-py before 11.515 returns bytes
                name = name.decode("utf-8", "replace")
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(LocalGPU(i, str(name), "nvidia", int(mem.total), int(mem.free), "nvml"))
    except Exception as exc:
        raise Unavailable(f"NVML failed ({_line(exc)})") from None
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    if not gpus:
        raise Unavailable("NVML has no NVIDIA GPU")
    return gpus


# ---- AMD: rocm-smi -------------------------------------------------------------------------------------

_NAME_KEYS = ("Card Series", "Card series", "Card Model", "Card model", "Device Name")


def _amd_name(card: dict[str, Any], key: str) -> str:
    for k in _NAME_KEYS:
        value = str(card.get(k, "")).strip()
        # older rocm-smi prints bare PCI ids ("0x738c") when it cannot name the card
        if value and value.upper() != "N/A" and not re.fullmatch(r"0x[0-9a-fA-F]+", value):
            return value
    return f"AMD GPU {key}"


def parse_rocm_smi(text: str) -> list[LocalGPU]:
    """GPUs from ``rocm-smi --showproductname --showmeminfo vram --json``: {"card0": {...}, ...}."""
    # rocm-smi may print warnings around the JSON (and exits 0 on some failures): keep the outer object
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise Unavailable("rocm-smi printed no JSON")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        raise Unavailable("rocm-smi printed unreadable JSON") from None
    if not isinstance(data, dict):
        raise Unavailable("rocm-smi printed unreadable JSON")
    gpus = []
    for n, (key, card) in enumerate(data.items()):
        if not (isinstance(card, dict) and key.startswith("card")):
            continue  # e.g. "system": {"Driver version": ...}
        try:
            total = int(card["VRAM Total Memory (B)"])
            used = int(card.get("VRAM Total Used Memory (B)", 0))
        except (KeyError, TypeError, ValueError):
            continue
        if total < MIN_GPU_BYTES:
            continue
        index = int(key[4:]) if key[4:].isdigit() else n
        gpus.append(LocalGPU(index, _amd_name(card, key), "amd", total, max(total - used, 0), "rocm-smi"))
    if not gpus:
        raise Unavailable("rocm-smi lists no GPU")
    return sorted(gpus, key=lambda g: g.index)


def rocm_smi_gpus(run: Runner = run_command) -> list[LocalGPU]:
    try:
        out = run(ROCM_SMI)
    except FileNotFoundError:
        raise Unavailable("rocm-smi is not installed") from None
    except subprocess.TimeoutExpired:
        raise Unavailable(f"rocm-smi did not answer within {TIMEOUT_S:g} s") from None
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"rocm-smi failed (exit {exc.returncode})") from None
    except OSError as exc:
        raise Unavailable(f"rocm-smi could not run ({_line(exc)})") from None
    return parse_rocm_smi(out)


# ---- Apple Silicon: sysctl -----------------------------------------------------------------------------


def is_apple_silicon(system: str, machine: str) -> bool:
    return system == "Darwin" and machine == "arm64"


def apple_default_limit(memsize: int) -> int:
    """macOS's default GPU working-set limit (Metal's ``recommendedMaxWorkingSetSize``) for ``memsize`` bytes.

    APPROXIMATE. Apple documents the property (https://developer.apple.com/documentation/metal/
    mtldevice/recommendedmaxworkingsetsize) but not its formula; the widely reported values are about 2/3 of
    RAM up to 32 GiB and about 3/4 above. llama.cpp's ``recommendedMaxWorkingSetSize`` log line shows
    22906.50 MB on a 32 GB M2 Pro (2/3), 28991.03 MB on a 36 GB M4 Max and 103079.22 MB on a 128 GB M4 Max
    (both exactly 3/4), so a 36 GiB machine already gets 3/4. The GPU presets' usable_mib use the same rule.
    """
    return memsize * 3 // 4 if memsize > 32 * GiB else memsize * 2 // 3


def apple_gpus(sysctl: Sysctl) -> list[LocalGPU]:
    """The Apple Silicon GPU, whose memory is the machine's unified memory.

    Its total is what the GPU may wire: ``iogpu.wired_limit_mb`` MiB when that sysctl is set to a non-zero
    value (``sudo sysctl iogpu.wired_limit_mb=N``), else macOS's default working-set limit. The unified
    memory is counted once: the host (``LocalMachine.host_total_bytes = hw.memsize``) shares the same bytes.
    macOS gives no cheap per-GPU free figure, so free is the limit.
    """
    try:
        memsize = int(sysctl("hw.memsize") or "")
    except ValueError:
        raise Unavailable("sysctl hw.memsize gave no memory size") from None
    try:
        wired_mb = int(sysctl("iogpu.wired_limit_mb") or 0)
    except ValueError:
        wired_mb = 0
    limit = min(wired_mb * MiB, memsize) if wired_mb > 0 else apple_default_limit(memsize)
    name = sysctl("machdep.cpu.brand_string") or "Apple Silicon GPU"  # e.g. "Apple M4 Max"
    return [LocalGPU(0, name, "apple", limit, limit, "apple sysctl")]


# ---- host memory ---------------------------------------------------------------------------------------


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(MemTotal, MemAvailable) in bytes from /proc/meminfo text (kB there means KiB); None when absent."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^(MemTotal|MemAvailable):\s+(\d+)\s*kB\s*$", line)
        if m:
            values[m.group(1)] = int(m.group(2)) * KiB
    return values.get("MemTotal"), values.get("MemAvailable")


def _read_meminfo(path: Path) -> tuple[int | None, int | None]:
    try:
        return parse_meminfo(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None, None


# ---- all together --------------------------------------------------------------------------------------


def detect(
    *,
    nvml: Any = None,
    run: Runner = run_command,
    sysctl: Sysctl | None = None,
    system: str | None = None,
    machine: str | None = None,
    meminfo: Path = Path("/proc/meminfo"),
) -> LocalMachine:
    """This machine's GPUs (from the first source that has any) and host memory.

    Every argument is for tests: the pynvml module, the command runner, the sysctl reader, the platform.
    """
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    read_sysctl: Sysctl = sysctl if sysctl is not None else (lambda name: run_sysctl(name, run))
    apple = is_apple_silicon(system, machine)

    def apple_source() -> list[LocalGPU]:
        if not apple:
            raise Unavailable("this is not Apple Silicon")
        return apple_gpus(read_sysctl)

    sources: list[tuple[str, Callable[[], list[LocalGPU]]]] = [
        ("NVML", lambda: nvml_gpus(nvml)),
        ("rocm-smi", lambda: rocm_smi_gpus(run)),
        ("Apple sysctl", apple_source),
    ]
    gpus: list[LocalGPU] = []
    reasons: list[str] = []
    for label, source in sources:
        try:
            gpus = source()
        except Unavailable as exc:
            reasons.append(str(exc))
        except Exception as exc:  # a source's bug or an unforeseen output must not become a traceback
            reasons.append(f"{label} failed ({_line(exc)})")
        if gpus:
            break
    if not gpus:
        listed = reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + ", and " + reasons[-1]
        raise LocalGPUError(f"no GPU found: {listed}")

    if system == "Darwin":
        try:
            host_total: int | None = int(read_sysctl("hw.memsize") or "")
        except Exception:  # not a number, or a failing reader
            host_total = None
        return LocalMachine(tuple(gpus), host_total, None)
    return LocalMachine(tuple(gpus), *_read_meminfo(meminfo))


# ---- preset matching -----------------------------------------------------------------------------------

# Brand words carry no model information; "vf" (a cloud VM's virtual function) and "oam" (the module form
# factor rocm-smi appends to Instinct names) do not name a different product either.
_NOISE = frozenset({"nvidia", "geforce", "amd", "radeon", "tesla", "instinct", "vf", "oam"})


def _tokens(text: str) -> set[str]:
    text = re.sub(r"(\d+)\s+gb\b", r"\1gb", text.lower())  # "96 GB" -> "96gb", as in "80GB"
    return {t for t in re.findall(r"[a-z0-9]+", text) if t not in _NOISE}


def _name_tokens(name: str) -> tuple[set[str], set[str]]:
    """(required, all) tokens of a name: words in brackets and memory sizes ("80gb") are optional."""
    bracketed = " ".join(re.findall(r"\(([^)]*)\)", name))
    core = _tokens(re.sub(r"\([^)]*\)", " ", name))
    optional = _tokens(bracketed) | {t for t in core if re.fullmatch(r"\d+gb", t)}
    return core - optional, core | optional


def preset_id_for(name: str, known: dict[str, str]) -> str | None:
    """The preset id for a driver's GPU name, given ``{preset_id: preset_name}``; None unless exactly one fits.

    Case, brand words (NVIDIA, GeForce, AMD, Radeon, Tesla, Instinct) and punctuation are ignored, and a
    PCI-database name keeps only its bracketed product ("Navi 31 [Radeon RX 7900 XT/7900 XTX]"). A preset
    fits when the driver name has all of its required words and no word the preset lacks; words in brackets
    and memory sizes are optional, so "NVIDIA H100 80GB HBM3" fits "NVIDIA H100 80GB HBM3 (SXM5)" and
    "NVIDIA A100-SXM4-80GB" fits "NVIDIA A100 80GB SXM4" but not "NVIDIA A100 40GB SXM4". The driver's name
    rarely tells memory variants apart (RTX 4060 Ti 8 GB and 16 GB share a name), so take memory from the
    detected device, not from the preset.
    """
    product = re.search(r"\[([^\]]+)\]", name)
    seen = _tokens(re.sub(r"\([^)]*\)", " ", product.group(1) if product else name))
    if not seen:
        return None
    fits = []
    for preset_id, preset_name in known.items():
        required, allowed = _name_tokens(preset_name)
        if required <= seen <= allowed:
            fits.append(preset_id)
    return fits[0] if len(fits) == 1 else None
