"""Write validation/points/papers.toml: two papers' tables, rebuilt as scenarios.

The tables are transcribed from the PDFs at SOURCES (text extracted with pypdf and checked against the
page). ZeRO's Table 1 is printed as numbers; Korthikanti et al.'s Table 2 is printed as formulas, so
each of its points is the formula evaluated at a model of the paper's Table 3, and says so.
Run: .venv/bin/python scripts/paper_points.py
"""

from __future__ import annotations

from pathlib import Path

import tomli_w

from vramtui.core.model import ModelSpec

OUT = Path(__file__).resolve().parents[1] / "validation" / "points" / "papers.toml"

ZERO_SRC = ("https://github.com/Rai-Nabin/Daily-Learning/blob/125f990b5eda24a608d75c33fc09331a922a93a4/"
            "DeepSpeed/pdf/ZeRO.pdf")
KORTHIKANTI_SRC = ("https://github.com/danielvegamyhre/ml-scalability-and-performance-reading-group/blob/"
                   "4ba9bea8d68bf32bc8281e80e99cf3abd5580ede/session_9/"
                   "reducing_activation_recomputation_%5Bannotated%5D.pdf")

# --- ZeRO (Rajbhandari et al., arXiv:1910.02054v3), Table 1, page 11 ------------------------------
ZERO_HEADER = ("DP 7.5B Model (GB) 128B Model (GB) 1T Model (GB) "
               "Pos Pos+g Pos+g+p Pos Pos+g Pos+g+p Pos Pos+g Pos+g+p")
ZERO_ROWS = {
    1: "1 120 120 120 2048 2048 2048 16000 16000 16000",
    4: "4 52.5 41.3 30 896 704 512 7000 5500 4000",
    16: "16 35.6 21.6 7.5 608 368 128 4750 2875 1000",
    64: "64 31.4 16.6 1.88 536 284 32 4187 2218 250",
    256: "256 30.4 15.4 0.47 518 263 8 4046 2054 62.5",
    1024: "1024 30.1 15.1 0.12 513 257 2 4011 2013 15.6",
}
ZERO_CAPTION = ("Table 1: Per-device memory consumption of different optimizations in ZeRO-DP as a function "
                "of DP degree . Bold-faced text are the combinations for which the model can fit into a "
                "cluster of 32GB V100 GPUs.")
# Table 1 depends on the parameter count Ψ only: any shape will do, padded to exactly Ψ
ZERO_MODELS = {"7.5b": (7_500_000_000, 4096, 36, 32), "128b": (128_000_000_000, 12288, 70, 96),
               "1t": (1_000_000_000_000, 25600, 120, 160)}
ZERO_STAGES = ["Pos", "Pos+g", "Pos+g+p"]

# --- Korthikanti et al. (arXiv:2205.05198v1), Tables 2 and 3, page 9-10 -------------------------
K_TABLE2 = "Table 2: Activations memory, in bytes, per transformer layer for different techniques."
K_ROWS = {  # id: (row as printed, t, sequence parallel, full recomputation, bytes per sbh per layer)
    "none": ("no parallelism sbh ( 34 + 5 as h )", 1, False, False, lambda a, h, t: 34 + 5 * a * S / h),
    "tp": ("tensor parallel (baseline) sbh ( 10 + 24 t + 5 as ht )", 8, False, False,
           lambda a, h, t: 10 + 24 / t + 5 * a * S / (h * t)),
    "tp-sp": ("tensor + sequence parallel sbh ( 34 t + 5 as ht )", 8, True, False,
              lambda a, h, t: 34 / t + 5 * a * S / (h * t)),
    "full-recompute": ("full activation recomputation sbh(2)", 8, False, True, lambda a, h, t: 2),
}
K_TABLE3 = ("Model Size | Attention Heads | Hidden Size | Layers | Tensor Parallel Size | Pipeline Parallel Size | "
            "Number of GPUs | Global Batch Size | Micro Batch Size")
K_MODELS = {  # id: (row as printed, heads, hidden, layers, micro batch)
    "22b": ("22B 64 6144 48 8 1 8 4 4", 64, 6144, 48, 4),
    "175b": ("175B (GPT-3) 96 12288 96 8 8 64 64 1", 96, 12288, 96, 1),
    "530b": ("530B (MT-NLG) 128 20480 105 8 35 280 280 1", 128, 20480, 105, 1),
    "1t": ("1T 160 25600 128 8 64 512 512 1", 160, 25600, 128, 1),
}
S, V = 2048, 51200
K_TEXT = "For all the cases, sequence length is set to s = 2048 and vocabulary size is set to v = 51200."


def gpt(model_id: str, name: str, source: str, hidden: int, layers: int, heads: int) -> dict:
    """A GPT-style shape (LayerNorm, GeLU MLP of 4h, multi-head attention, learned positions)."""
    return dict(id=model_id, name=name, family="paper", source=source, vocab_size=V, hidden_size=hidden,
                intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=heads,
                num_key_value_heads=heads, max_position_embeddings=S, position_embeddings=S, mlp_gated=False,
                qkv_bias=True, o_bias=True, mlp_bias=True, norm_bias=True, tie_word_embeddings=True)


def zero_points() -> list[dict]:
    points = []
    for col, (key, (psi, hidden, layers, heads)) in enumerate(ZERO_MODELS.items()):
        arch = gpt(f"zero-table1-{key}", f"ZeRO Table 1: {key.upper()} model", ZERO_SRC, hidden, layers, heads)
        derived = ModelSpec.model_validate(arch).total_parameters
        arch.update(parameters=psi, parameters_source="ZeRO Table 1 gives only the parameter count Ψ",
                    extra_parameters=psi - derived,
                    extra_parameters_note=f"pads a GPT-style {layers}-layer, {hidden}-wide shape to exactly Ψ")
        for dp, row in ZERO_ROWS.items():
            cells = row.split()[1:]
            for i, stage in enumerate(ZERO_STAGES):
                if dp == 1 and i:
                    continue  # at DP 1 the three stages are one value: one point
                label = stage if dp > 1 else "any stage"
                points.append({
                    "id": f"zero-table1-{key}-dp{dp}-" + (stage.lower().replace("+", "-") if dp > 1 else "baseline"),
                    "source": ZERO_SRC, "quote": f"{ZERO_HEADER}\n{row}\n{ZERO_CAPTION}", "table": "ZeRO Table 1",
                    "runtime": "transformers", "mode": "full", "architecture": arch, "weights": "bf16",
                    "context_length": S, "batch_size": 1, "recipe": "bf16-mixed", "optimizer": "adamw",
                    "data_parallel": dp, "zero_stage": i + 1 if dp > 1 else 0,
                    "notes": (f"Rajbhandari et al., ZeRO (arXiv:1910.02054v3), Table 1, {key.upper()} model, {label} "
                              f"at DP {dp}. Model states per device: fp16 parameters 2Ψ + fp16 gradients 2Ψ + "
                              "K = 12 B of mixed-precision Adam (fp32 parameters, momentum, variance), split over "
                              "Nd by the stage; GB = 1e9 B. The table is the paper's own arithmetic (Figure 1's "
                              "formulas), some cells truncated as printed (4187 for 4187.5). Rebuilt as bf16-mixed "
                              "AdamW (the same bytes) with ZeRO stage 1/2/3 and compared with the estimate's model "
                              "states, which leave out ZeRO-3's gathered layers and the activations."),
                    "measured": {"model_states_gb": float(cells[3 * col + i])},
                })
    return points


def korthikanti_points() -> list[dict]:
    points = []
    for key, (config, heads, hidden, layers, micro) in K_MODELS.items():
        arch = gpt(f"korthikanti-table3-{key}", f"Korthikanti Table 3: {key.upper()}", KORTHIKANTI_SRC, hidden, layers, heads)
        for row_id, (row, t, sp, recompute, per_sbh) in K_ROWS.items():
            total = S * micro * hidden * per_sbh(heads, hidden, t) * layers
            points.append({
                "id": f"korthikanti-table2-{key}-{row_id}",
                "source": KORTHIKANTI_SRC, "quote": f"{K_TABLE2}\n{row}\n{K_TABLE3}\n{config}\n{K_TEXT}",
                "table": "Korthikanti Table 2", "runtime": "transformers", "mode": "full", "architecture": arch,
                "weights": "bf16", "context_length": S, "batch_size": micro, "recipe": "bf16-mixed",
                "flash_attention": False, "gradient_checkpointing": recompute, "tensor_parallel": t,
                "sequence_parallel": sp,
                "notes": (f"Korthikanti et al. (arXiv:2205.05198v1): Table 2's row '{row}' evaluated at Table 3's "
                          f"{key.upper()} model (a = {heads}, h = {hidden}, L = {layers}, micro-batch b = {micro}, "
                          f"s = {S}, t = {t}) and multiplied by L (the paper's Eq. 5: with pipeline parallelism "
                          "the first stage holds p micro-batches of L/p layers, the same total). A formula, not a "
                          "measurement: the paper prints no activation figures, only charts. Megatron's GPT layer "
                          "with dropout and eager attention; the estimate's per-token bytes were traced on "
                          "transformers' Llama layer, so the two differ in their constants (docs/accuracy.md)."),
                "measured": {"saved_activations_gb": round(total / 1e9, 4)},
            })
    return points


def main() -> None:
    header = ("# Tables of papers, rebuilt as scenarios: written by scripts/paper_points.py, which says where each\n"
              "# number comes from. They are the papers' own arithmetic, not measurements: `vramtui validate`\n"
              "# reports each table as its own group, and they are kept out of the measured-error targets.\n\n")
    OUT.write_text(header + tomli_w.dumps({"points": zero_points() + korthikanti_points()}))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
