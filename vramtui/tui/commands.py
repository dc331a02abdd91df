"""Every app-level command declared once: its key, footer label, palette entry and help line.

The App builds its BINDINGS, its command-palette entries and the F1 help from this one list, so the
three never disagree. Keys are F-keys or ctrl-combos: a focused Input swallows letters and digits,
and ctrl+a / ctrl+b are tmux/screen prefixes over SSH.
"""

from __future__ import annotations

from typing import NamedTuple

from textual.binding import Binding, BindingType


class Command(NamedTuple):  # a named tuple: a frozen dataclass took ~1 ms of start-up to build
    id: str
    key: str
    action: str
    title: str  # footer and palette
    help: str  # palette help and the F1 screen
    footer: bool = True


COMMANDS: tuple[Command, ...] = (
    Command("help", "f1", "help", "Help", "Keys and help for the focused field"),
    Command("mode-model", "f2", "show_mode('model')", "Model", "Pick a preset, describe a custom model or import a config.json; again: the next tab"),
    Command("mode-workload", "f3", "show_mode('workload')", "Workload", "Mode, formats, batch, context, runtime"),
    Command("mode-optimizations", "f4", "show_mode('optimizations')", "Optimize", "Flash attention, checkpointing, optimizer, LoRA, ZeRO, parallelism"),
    Command("mode-gpus", "f5", "show_mode('gpus')", "GPUs", "Side-by-side fit grid; pick compared GPUs and the verdict GPU"),
    Command("context-up", "ctrl+up", "scale_context(2)", "Context ×2", "Double the context length", footer=False),
    Command("context-down", "ctrl+down", "scale_context(0.5)", "Context ÷2", "Halve the context length", footer=False),
    Command("method", "f6", "toggle_method", "Method", "Switch between the precise estimate and the guide's formulas"),
    Command("units", "f7", "toggle_units", "GiB/GB", "Show binary GiB (like nvidia-smi) or decimal GB (the guide's unit)"),
    Command("theme", "f8", "next_theme", "Theme", "Cycle through the colour themes", footer=False),
    Command("save", "ctrl+s", "save", "Save", "Save the scenario (asks for a name the first time)"),
    Command("save-as", "f12", "save_as", "Save as", "Save the scenario under a new name", footer=False),
    Command("open", "ctrl+o", "open", "Open", "Open a scenario file from the scenarios folder or a path"),
    Command("redraw", "ctrl+l", "redraw", "Redraw", "Redraw the screen (after terminal glitches over SSH)", footer=False),
    Command("new", "ctrl+n", "new", "New", "Start again from the default scenario", footer=False),
    Command("quit", "ctrl+q", "quit", "Quit", "Quit (asks first when there are unsaved changes)"),
)


def app_bindings() -> list[BindingType]:
    return [
        Binding(c.key, c.action, c.title, show=c.footer, id=c.id, tooltip=c.help, priority=True)
        for c in COMMANDS
    ]
