"""Local GPU detection (vramtui.core.local_gpus), offline: every source is fed recorded outputs.

The recordings live in tests/data/local_gpus/ (its README says where each shape and number comes from).
No test needs a GPU, nvidia-ml-py, rocm-smi or macOS.
"""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from vramtui.core import local_gpus as lg
from vramtui.core import presets
from vramtui.core.local_gpus import LocalGPU, LocalGPUError, Unavailable
from vramtui.core.units import GiB, KiB, MiB

DATA = Path(__file__).parent / "data" / "local_gpus"
MEMINFO = DATA / "meminfo_linux.txt"


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError."""


def fake_nvml(recording: str, *, bytes_names: bool = False, init_error: str | None = None) -> SimpleNamespace:
    """A pynvml stand-in answering from a recording: [{"name", "total", "free"}, ...]."""
    devices = json.loads((DATA / recording).read_text()) if recording else []
    calls: list[str] = []

    def init() -> None:
        calls.append("init")
        if init_error:
            raise NVMLError(init_error)

    def name(handle: int) -> bytes | str:
        value = devices[handle]["name"]
        return value.encode() if bytes_names else value  # nvidia-ml-py < 11.515 returned bytes

    return SimpleNamespace(
        calls=calls,
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: len(devices),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=name,
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=devices[h]["total"], free=devices[h]["free"],
                                                          used=devices[h]["total"] - devices[h]["free"]),
    )


def runner(outputs: dict[str, str | BaseException]):
    """A Runner answering by program name; a program not listed is not installed."""
    seen: list[list[str]] = []

    def run(argv):
        seen.append(list(argv))
        out = outputs.get(argv[0], FileNotFoundError(2, "No such file or directory", argv[0]))
        if isinstance(out, BaseException):
            raise out
        return out

    run.seen = seen  # type: ignore[attr-defined]
    return run


def recorded_sysctl(name: str):
    """A sysctl reader from a recorded `sysctl a b c` output ("name: value" lines)."""
    values = dict(line.split(": ", 1) for line in (DATA / name).read_text().splitlines() if line)
    return values.get


def rocm(name: str) -> str:
    return (DATA / name).read_text()


# ---- NVML ----------------------------------------------------------------------------------------------


def test_nvml_one_gpu_with_bytes_name():
    nvml = fake_nvml("nvml_rtx4090.json", bytes_names=True)
    assert lg.nvml_gpus(nvml) == [
        LocalGPU(0, "NVIDIA GeForce RTX 4090", "nvidia", 25757220864, 25757220864 - 484 * MiB, "nvml"),
    ]
    assert 25757220864 == 24564 * MiB  # nvidia-smi's "24564MiB"
    assert nvml.calls == ["init", "shutdown"]


def test_nvml_two_gpus():
    gpus = lg.nvml_gpus(fake_nvml("nvml_2x_h100.json"))
    assert [(g.index, g.name, g.total_bytes) for g in gpus] == [
        (0, "NVIDIA H100 80GB HBM3", 81559 * MiB),
        (1, "NVIDIA H100 80GB HBM3", 81559 * MiB),
    ]
    assert gpus[1].free_bytes == (81559 - 38915) * MiB
    assert {g.source for g in gpus} == {"nvml"} and {g.vendor for g in gpus} == {"nvidia"}


def test_nvml_without_gpus_or_driver_is_unavailable():
    empty = fake_nvml("")
    with pytest.raises(Unavailable, match="^NVML has no NVIDIA GPU$"):
        lg.nvml_gpus(empty)
    assert empty.calls == ["init", "shutdown"]
    with pytest.raises(Unavailable, match=r"NVML has no NVIDIA GPU \(Driver Not Loaded\)"):
        lg.nvml_gpus(fake_nvml("", init_error="Driver Not Loaded"))


def test_nvml_failing_mid_way_still_shuts_down():
    nvml = fake_nvml("nvml_2x_h100.json")

    def lost(handle):
        raise NVMLError("GPU is lost")

    nvml.nvmlDeviceGetMemoryInfo = lost
    with pytest.raises(Unavailable, match=r"NVML failed \(GPU is lost\)"):
        lg.nvml_gpus(nvml)
    assert nvml.calls == ["init", "shutdown"]


def test_missing_nvidia_ml_py_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail, installed or not
    with pytest.raises(Unavailable, match="nvidia-ml-py is not installed"):
        lg.nvml_gpus()


def test_importing_the_module_does_not_import_pynvml():
    code = "import sys, vramtui.core.local_gpus; print('pynvml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---- rocm-smi ------------------------------------------------------------------------------------------


def test_rocm_smi_two_mi300x():
    gpus = lg.parse_rocm_smi(rocm("rocm_smi_2x_mi300x.json"))
    assert gpus == [
        LocalGPU(i, "AMD Instinct MI300X", "amd", 206141652992, 206141652992 - 292478976, "rocm-smi") for i in (0, 1)
    ]
    assert 206141652992 == 196592 * MiB  # the mi300x preset's memory_mib


def test_rocm_smi_skips_the_apu_carve_out():
    (gpu,) = lg.parse_rocm_smi(rocm("rocm_smi_rx7900xtx_with_igpu.json"))  # card1 is a 64 MiB "Raphael" iGPU
    assert gpu == LocalGPU(0, "Radeon RX 7900 XTX", "amd", 24560 * MiB, 24560 * MiB - 1120 * MiB, "rocm-smi")


def test_rocm_smi_runs_the_documented_command_and_tolerates_a_warning():
    text = "WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status\n\n"
    run = runner({"rocm-smi": text + rocm("rocm_smi_2x_mi300x.json")})
    assert len(lg.rocm_smi_gpus(run)) == 2
    assert run.seen == [["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"]]


@pytest.mark.parametrize("card, name", [
    ({"Card series": "Arcturus GL-XL [AMD Instinct MI100]", "Card model": "0x0c34"}, "Arcturus GL-XL [AMD Instinct MI100]"),
    ({"Card series": "0x738c", "Card model": "0xc34"}, "AMD GPU card3"),  # ROCm 4.0 printed bare PCI ids
    ({"Card Series": "N/A", "Device Name": "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"},
     "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"),
])
def test_rocm_smi_name_variants(card, name):
    data = {"card3": {"VRAM Total Memory (B)": str(32 * GiB), "VRAM Total Used Memory (B)": "0", **card}}
    (gpu,) = lg.parse_rocm_smi(json.dumps(data))
    assert (gpu.index, gpu.name) == (3, name)


@pytest.mark.parametrize("out, reason", [
    (FileNotFoundError(2, "No such file or directory", "rocm-smi"), "rocm-smi is not installed"),
    (subprocess.TimeoutExpired(["rocm-smi"], 5), "rocm-smi did not answer within 5 s"),
    (subprocess.CalledProcessError(2, ["rocm-smi"]), r"rocm-smi failed \(exit 2\)"),
    (PermissionError(13, "Permission denied"), "rocm-smi could not run"),
    ("", "rocm-smi printed no JSON"),
    ("{not json}", "rocm-smi printed unreadable JSON"),
    ("{}", "rocm-smi lists no GPU"),
    ('{"system": {"Driver version": "6.8.5"}}', "rocm-smi lists no GPU"),
])
def test_rocm_smi_unavailable(out, reason):
    with pytest.raises(Unavailable, match=reason):
        lg.rocm_smi_gpus(runner({"rocm-smi": out}))


# ---- Apple Silicon -------------------------------------------------------------------------------------


def test_apple_default_working_set_limit():
    (gpu,) = lg.apple_gpus(recorded_sysctl("sysctl_m4max_128gb.txt"))
    # 3/4 of 128 GiB: llama.cpp logs "recommendedMaxWorkingSetSize = 103079.22 MB" on a 128 GB M4 Max
    assert gpu == LocalGPU(0, "Apple M4 Max", "apple", 96 * GiB, 96 * GiB, "apple sysctl")
    assert round(gpu.total_bytes / 1e6, 2) == 103079.22


def test_apple_wired_limit_overrides_the_default():
    (gpu,) = lg.apple_gpus(recorded_sysctl("sysctl_m4max_128gb_wired_120000.txt"))
    assert gpu.total_bytes == gpu.free_bytes == 120000 * MiB


def test_apple_wired_limit_cannot_exceed_ram():
    values = {"hw.memsize": str(16 * GiB), "iogpu.wired_limit_mb": "999999"}
    assert lg.apple_gpus(values.get)[0].total_bytes == 16 * GiB


@pytest.mark.parametrize("ram_gib, reported_mb", [(32, 22906.50), (36, 28991.03), (128, 103079.22)])
def test_apple_default_limit_matches_reported_figures(ram_gib, reported_mb):
    # recommendedMaxWorkingSetSize as llama.cpp logs it: 32 GB M2 Pro, 36 GB M4 Max, 128 GB M4 Max
    assert round(lg.apple_default_limit(ram_gib * GiB) / 1e6, 2) == pytest.approx(reported_mb, abs=0.01)


def test_apple_default_limit_agrees_with_the_apple_presets():
    apple = [g for g in presets.gpus().values() if g.vendor == "apple"]
    assert apple
    for g in apple:
        assert lg.apple_default_limit(g.memory_bytes) == g.usable_bytes, g.id


# ---- host memory ---------------------------------------------------------------------------------------


def test_parse_recorded_meminfo():
    assert lg.parse_meminfo(MEMINFO.read_text()) == (24731708 * KiB, 24361148 * KiB)


def test_parse_meminfo_without_mem_available():
    # kernels before 3.14 have no MemAvailable line
    assert lg.parse_meminfo("MemTotal:        8048392 kB\nMemFree:         6019284 kB\n") == (8048392 * KiB, None)
    assert lg.parse_meminfo("") == (None, None)


# ---- detect(): the sources in order --------------------------------------------------------------------


def test_detect_uses_nvml_first():
    run = runner({"rocm-smi": rocm("rocm_smi_2x_mi300x.json")})
    machine = lg.detect(nvml=fake_nvml("nvml_2x_h100.json"), run=run, system="Linux", machine="x86_64", meminfo=MEMINFO)
    assert [g.source for g in machine.gpus] == ["nvml", "nvml"]
    assert run.seen == []  # rocm-smi is not asked once NVML found GPUs
    assert (machine.host_total_bytes, machine.host_available_bytes) == (24731708 * KiB, 24361148 * KiB)


def test_detect_falls_through_nvml_init_failure_to_rocm_smi():
    nvml = fake_nvml("", init_error="NVML Shared Library Not Found")
    machine = lg.detect(nvml=nvml, run=runner({"rocm-smi": rocm("rocm_smi_2x_mi300x.json")}),
                        system="Linux", machine="x86_64", meminfo=MEMINFO)
    assert [(g.name, g.vendor, g.source) for g in machine.gpus] == [("AMD Instinct MI300X", "amd", "rocm-smi")] * 2
    assert machine.host_total_bytes == 24731708 * KiB


@pytest.mark.parametrize("recording, gpu_bytes", [
    ("sysctl_m4max_128gb.txt", 96 * GiB),
    ("sysctl_m4max_128gb_wired_120000.txt", 120000 * MiB),
])
def test_detect_falls_through_missing_rocm_smi_to_apple(monkeypatch, recording, gpu_bytes):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    machine = lg.detect(run=runner({}), sysctl=recorded_sysctl(recording), system="Darwin", machine="arm64",
                        meminfo=DATA / "absent")
    (gpu,) = machine.gpus
    assert (gpu.name, gpu.vendor, gpu.total_bytes, gpu.source) == ("Apple M4 Max", "apple", gpu_bytes, "apple sysctl")
    # unified memory counted once: the host total is all of it, the GPU's limit is a share of the same bytes
    assert machine.host_total_bytes == 128 * GiB and machine.host_available_bytes is None


def test_detect_without_any_gpu_says_what_was_tried_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(LocalGPUError) as info:
        lg.detect(run=runner({}), system="Linux", machine="x86_64", meminfo=MEMINFO)
    assert str(info.value) == (
        "no GPU found: NVML is not available (nvidia-ml-py is not installed), rocm-smi is not installed, "
        "and this is not Apple Silicon"
    )
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_detect_turns_any_source_failure_into_the_one_error():
    nvml = fake_nvml("", init_error="Driver/library version mismatch\n(see dmesg)")
    nvml.nvmlDeviceGetCount = None  # not reached
    broken = runner({"rocm-smi": KeyError("boom")})  # an exception no source expects
    with pytest.raises(LocalGPUError) as info:
        lg.detect(nvml=nvml, run=broken, system="Darwin", machine="x86_64")
    message = str(info.value)
    assert message == (
        "no GPU found: NVML has no NVIDIA GPU (Driver/library version mismatch (see dmesg)), "
        "rocm-smi failed ('boom'), and this is not Apple Silicon"
    )


def test_run_sysctl_gives_none_for_an_unknown_name():
    def run(argv):
        raise subprocess.CalledProcessError(1, argv, "", "sysctl: unknown oid 'iogpu.wired_limit_mb'")

    assert lg.run_sysctl("iogpu.wired_limit_mb", run) is None
    assert lg.run_sysctl("hw.memsize", lambda argv: "137438953472\n") == "137438953472"


# ---- driver name -> preset id ----------------------------------------------------------------------------

KNOWN = {g.id: g.name for g in presets.gpus().values()}


@pytest.mark.parametrize("driver_name, preset_id", [
    ("NVIDIA GeForce RTX 4090", "rtx-4090"),
    ("NVIDIA H100 80GB HBM3", "h100-80gb"),  # preset "NVIDIA H100 80GB HBM3 (SXM5)"
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA H100 NVL", "h100-nvl"),
    ("NVIDIA H200", "h200"),  # preset "NVIDIA H200 (SXM)"
    ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("Tesla T4", "t4"),
    ("Tesla V100-SXM2-16GB", "v100-16gb"),
    ("NVIDIA A10G", "a10g"),
    ("NVIDIA A10", "a10"),
    ("NVIDIA L40S", "l40s"),
    ("NVIDIA L40", "l40"),
    ("NVIDIA GeForce RTX 4080", "rtx-4080"),
    ("NVIDIA GeForce RTX 4080 SUPER", "rtx-4080-super"),
    ("NVIDIA GeForce RTX 4070 Ti", "rtx-4070-ti"),
    ("NVIDIA GeForce RTX 3080", "rtx-3080-10gb"),
    ("NVIDIA GeForce RTX 3080 Ti", "rtx-3080-ti"),
    ("NVIDIA RTX A6000", "rtx-a6000"),
    ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"),
    ("nvidia geforce rtx 5090", "rtx-5090"),
    ("AMD Instinct MI300X", "mi300x"),
    ("AMD Instinct MI300X OAM", "mi300x"),
    ("AMD Instinct MI300X VF", "mi300x"),
    ("Radeon RX 7900 XTX", "rx-7900-xtx"),
    ("Radeon RX 7900 XT", "rx-7900-xt"),
    ("Apple M4 Max", "m4-max-128gb"),
    ("Apple M4 Pro", "m4-pro-48gb"),
])
def test_preset_id_for_real_driver_names(driver_name, preset_id):
    assert preset_id in KNOWN
    assert lg.preset_id_for(driver_name, KNOWN) == preset_id


@pytest.mark.parametrize("driver_name", [
    "NVIDIA GeForce RTX 4090 D",  # a different card: no preset
    "NVIDIA GeForce RTX 3060 Ti",
    "NVIDIA A100-PCIE-40GB",  # the A100 presets are SXM4
    "NVIDIA H200 NVL",
    "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]",  # a PCI-database family name: ambiguous
    "NVIDIA",
    "",
])
def test_preset_id_for_gives_none_without_one_fit(driver_name):
    assert lg.preset_id_for(driver_name, KNOWN) is None


def test_preset_id_for_gives_none_when_two_fit():
    known = {"foo": "NVIDIA Foo", "foo-pcie": "NVIDIA Foo (PCIe)"}
    assert lg.preset_id_for("NVIDIA Foo", known) is None
    assert lg.preset_id_for("NVIDIA Foo PCIe", known) == "foo-pcie"


def test_every_preset_name_finds_itself():
    assert {preset_id: lg.preset_id_for(name, KNOWN) for preset_id, name in KNOWN.items()} == {i: i for i in KNOWN}
