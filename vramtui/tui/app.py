"""The vramtui App: holds one immutable Scenario, recomputes one Result per change, owns files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import cast

from textual.app import App, SystemCommand
from textual.reactive import var
from textual.screen import Screen

from ..core.errors import describe
from ..core.io import ScenarioError, default_scenario, load_scenario, save_scenario
from ..core.record import ValidationError
from ..core.runtimes import RUNTIME_IDS
from ..core.scenario import MAX_CONTEXT, ModelChoice, Scenario
from ..core.units import Unit
from .commands import COMMANDS, app_bindings
from .screens.base import VramScreen
from .screens.workload import WorkloadScreen
from .state import Result, compute
from .widgets.form import row_of

COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30


# Screens other than the first are imported when first shown: start-up pays only for what it draws.
def _model_screen() -> Screen:
    from .screens.model import ModelScreen

    return ModelScreen()


def _optimizations_screen() -> Screen:
    from .screens.optimizations import OptimizationsScreen

    return OptimizationsScreen()


def _gpu_screen() -> Screen:
    from .screens.gpus import GPUScreen

    return GPUScreen()


class VramApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "vramtui"
    MODES = {
        "model": _model_screen,
        "workload": WorkloadScreen,
        "optimizations": _optimizations_screen,
        "gpus": _gpu_screen,
    }
    DEFAULT_MODE = "workload"
    BINDINGS = app_bindings()

    scenario: var[Scenario] = var(cast(Scenario, None), init=False)  # set in __init__, before anything reads it
    result: var[Result | None] = var(None, init=False)
    unit: var[Unit] = var("GiB")
    method: var[str] = var("precise", init=False)
    status: var[str] = var("")  # the last file error, shown under the summary until the next action
    loads: var[int] = var(0)  # bumps when a file or New replaces the scenario: forms drop stale field errors

    def __init__(self, scenario: Scenario | None = None, path: Path | None = None) -> None:
        super().__init__()
        first = scenario or default_scenario()
        self.path: Path | None = path
        self.saved: Scenario | None = first  # a fresh default counts as unchanged
        self.set_reactive(VramApp.scenario, first)
        self.set_reactive(VramApp.result, compute(first, "precise"))

    # state ---------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.scenario != self.saved

    def watch_scenario(self, scenario: Scenario) -> None:
        self.status = ""
        self.result = compute(scenario, self.method)
        self._update_title()

    def watch_method(self, method: str) -> None:
        self.result = compute(self.scenario, method)

    def _update_title(self) -> None:
        name = self.path.name if self.path else "unsaved scenario"
        self.title = f"vramtui — {name}{' ● modified' if self.dirty else ''}"

    def update_scenario(self, section: str, **changes) -> str | None:
        """Apply a validated edit; return the message instead when it is not allowed."""
        part = getattr(self.scenario, section)
        if all(type(v) is type(getattr(part, k, None)) and getattr(part, k) == v for k, v in changes.items()):
            return None  # the value it already has (a field showing the scenario): nothing to validate
        try:
            self.scenario = self.scenario.replace(section, **changes)
        except ValidationError as exc:
            return describe(exc)
        except ValueError as exc:
            return str(exc)
        return None

    def set_model(self, choice: ModelChoice) -> None:
        self.scenario = self.scenario.model_copy(update={"model": choice})

    def load_model(self, choice: ModelChoice, weights: str | None) -> str | None:
        """A model read from the Hub, a folder or a GGUF file, with the format its checkpoint stores (and,
        for a GGUF file, the runtime that reads it); the message instead when the setup is refused."""
        from ..core.runtimes import default_runtime_for

        try:
            new = self.scenario.model_copy(update={"model": choice})
            if weights:
                runtime = default_runtime_for(weights)
                native = runtime != self.scenario.workload.runtime and runtime != RUNTIME_IDS[0]
                new = new.replace("workload", weights=weights, **({"runtime": runtime} if native else {}))
        except ValidationError as exc:
            return describe(exc)
        except ValueError as exc:
            return str(exc)
        self.scenario = new
        return None

    def replace_scenario(self, scenario: Scenario, path: Path | None) -> None:
        self.path = path
        self.saved = scenario
        self.loads += 1
        if scenario == self.scenario:
            self._update_title()
        self.scenario = scenario

    # layout ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._update_title()
        self.apply_compact()

    first_frame_shown = False

    async def on_ready(self) -> None:
        """Textual's Ready: the first frame is on the terminal. The first screen now builds the rest."""
        self.first_frame_shown = True
        if isinstance(self.screen, VramScreen):
            await self.screen.after_first_frame()

    _after_save: Callable[[], object] | None = None  # what quit / open / new does once "Save" has saved

    def apply_compact(self) -> None:
        size = self.size
        compact = size.width < COMPACT_WIDTH or size.height < COMPACT_HEIGHT
        self.set_class(compact, "-compact")

    # commands -------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own Theme, Quit and Keys would sit beside ours (F8, ctrl+q, F1): one of each
        ours = {"Theme", "Quit", "Keys"}
        yield from (c for c in super().get_system_commands(screen) if c.title not in ours)
        for c in COMMANDS:
            yield SystemCommand(f"{c.title} ({c.key})", c.help, partial(self.run_action, c.action))
        from .screens.gpus import COLUMNS, GPUScreen
        from .screens.model import ModelScreen

        if isinstance(screen, ModelScreen):
            for tab, title in (("tab-presets", "presets"), ("tab-custom", "custom model"), ("tab-import", "import config.json")):
                yield SystemCommand(f"Model: {title} tab", "F2 again steps through the tabs", partial(screen.show_tab, tab))
        if isinstance(screen, GPUScreen):
            for col in COLUMNS[1:]:
                yield SystemCommand(f"Sort GPUs by {col.title}", "Again reverses the order", partial(screen.sort_by, col.key))
            yield SystemCommand("GPUs: fits only (ctrl+f)", "Show only GPUs the scenario fits on", screen.action_toggle_fits)
            yield SystemCommand("GPUs: all presets (ctrl+g)", "Show every GPU preset", screen.action_toggle_all)
            yield SystemCommand("Copy the plan's command (ctrl+y)", "The launch command for the GPU under the cursor",
                                screen.action_copy_command)
            yield SystemCommand("Memory against context chart (ctrl+t)", "The need curve and each GPU's usable line",
                                screen.action_toggle_chart)

    def action_show_mode(self, mode: str) -> None:
        """A screen's key: go there; pressed again on it, the screen's own next step (the Model tabs)."""
        if self.current_mode == mode and isinstance(self.screen, VramScreen):
            self.screen.again()
        else:
            self.switch_mode(mode)

    def action_toggle_method(self) -> None:
        self.method = "guide" if self.method == "precise" else "precise"
        self.notify(f"Method: {self.method}", timeout=2)

    def action_scale_context(self, factor: float) -> None:
        w = self.scenario.workload
        value = min(MAX_CONTEXT, max(1, round(w.context_length * factor)))
        self.update_scenario("workload", context_length=value)

    def action_redraw(self) -> None:
        """Re-render the current screen from the result it already has (nothing is recomputed)."""
        if isinstance(self.screen, VramScreen):
            self.screen.redraw()
        self.refresh(layout=True)

    def action_toggle_units(self) -> None:
        self.unit = "GB" if self.unit == "GiB" else "GiB"

    def action_next_theme(self) -> None:
        names = sorted(self.available_themes)
        self.theme = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.notify(f"Theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        focused = self.focused
        text = ""
        if focused is not None:
            row = row_of(focused)
            label = f"{row.label}: " if row else ""
            text = label + (str(focused.tooltip) if focused.tooltip else (row.help if row else ""))
        keys = [(b.key, b.tooltip or b.description) for b in getattr(self.screen, "BINDINGS", []) if hasattr(b, "key")]
        from .screens.dialogs import HelpScreen

        legend = self.screen.help_legend() if isinstance(self.screen, VramScreen) else ""
        self.push_screen(HelpScreen(text, keys, legend))

    # files ----------------------------------------------------------------------------------
    def action_save(self) -> None:
        if self.path is None:
            self.action_save_as()
        else:
            self._write(self.path)

    def action_save_as(self) -> None:
        from .screens.dialogs import SaveAsScreen

        suggestion = self.path.stem if self.path else self.scenario.model.spec.id
        self.push_screen(SaveAsScreen(suggestion), self._save_as_chosen)

    def _save_as_chosen(self, path: Path | None) -> None:
        if path is None:
            self._after_save = None  # not saved: quit / open / new does not go on
            return
        if path.exists() and path != self.path:
            from .screens.dialogs import ConfirmScreen

            self.push_screen(ConfirmScreen(f"{path.name} exists. Replace it? (the old one is kept as {path.name}.bak)",
                                           yes="Replace"),
                             lambda ok: self._write(path) if ok else setattr(self, "_after_save", None))
        else:
            self._write(path)

    def _write(self, path: Path) -> None:
        try:
            save_scenario(self.scenario, path)
        except ScenarioError as exc:
            self.status = str(exc)
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            self._after_save = None
            return
        self.status = ""
        self.path, self.saved = path, self.scenario
        self._update_title()
        self.notify(f"Saved {path}", timeout=3)
        then, self._after_save = self._after_save, None
        if then is not None:  # quit / open / new asked to save first
            then()

    def action_open(self) -> None:
        from .screens.dialogs import OpenScreen

        self._unless_unsaved("Open another scenario", lambda: self.push_screen(OpenScreen(), self.open_path))  # type: ignore[arg-type]

    def open_path(self, path: Path | None) -> bool:
        if path is None:
            return False
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            self.status = f"{exc} — the current scenario is unchanged"
            self.notify(f"{exc}\nThe current scenario is unchanged.", title="Cannot open", severity="error", timeout=15)
            return False
        self.replace_scenario(scenario, path)
        self.notify(f"Opened {path}", timeout=3)
        return True

    def action_new(self) -> None:
        self._unless_unsaved("Start a new scenario", lambda: self.replace_scenario(default_scenario(), None))

    def action_quit(self) -> None:  # type: ignore[override]  # Textual's is async; a sync action works too
        self._unless_unsaved("Quit", self.exit)

    def _unless_unsaved(self, what: str, then) -> None:
        """Go on at once when nothing is unsaved; else ask: save first (then go on), discard, or stay."""
        if not self.dirty:
            then()
            return
        from .screens.dialogs import UnsavedScreen

        def answered(choice: str | None) -> None:
            if choice == "discard":
                then()
            elif choice == "save":
                self._after_save = then
                self.action_save()

        self.push_screen(UnsavedScreen(what), answered)

def run(path: str | None = None) -> int:
    """Entry point of ``vramtui [FILE]``: a bad file is one line on stderr and exit 2."""
    scenario, file = None, None
    if path:
        try:
            scenario, file = load_scenario(path), Path(path)
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    VramApp(scenario, file).run()
    return 0
