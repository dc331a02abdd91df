"""Modal dialogs: help (F1), save as, open, and the confirmations. ``escape`` means back, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..commands import COMMANDS
from ..paths import scenario_files, scenario_path, scenarios_dir

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A modal dialog; the dialogs' rules load with the first one shown, not at start-up."""

    CSS_PATH = "dialogs.tcss"


class HelpScreen(Dialog[None]):
    """Help for what has focus, then every command with its key. Focus returns on close."""

    BINDINGS = [Binding("escape", "dismiss", "Back"), Binding("f1", "dismiss", "Back", show=False)]

    def __init__(self, focused_help: str, screen_keys: list[tuple[str, str]], legend: str = "") -> None:
        super().__init__()
        self.focused_help = focused_help
        self.screen_keys = screen_keys
        self.legend = legend  # the screen's own: what each column of the GPU grid means

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static("Help", classes="dialog-title")
            yield Static(self.focused_help or "Move with Tab / Shift+Tab; the footer shows the keys.", id="help-focused")
            if self.legend:
                yield Static(self.legend, id="help-legend")
            lines = [f"[b]{c.key.upper():>7}[/b]  {c.title:<10} {c.help}" for c in COMMANDS]
            lines.append(f"[b]{'CTRL+P':>7}[/b]  {'Commands':<10} Every action above, searchable")
            lines += [f"[b]{key.upper():>7}[/b]  {desc}" for key, desc in self.screen_keys]
            yield Static("\n".join(lines), id="help-keys")
            yield Static("Escape or F1 closes this help.", classes="hint")


class SaveAsScreen(Dialog[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, suggestion: str) -> None:
        super().__init__()
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box", classes="dialog"):
            yield Static("Save scenario as", classes="dialog-title")
            yield Label(f"A name (saved in {scenarios_dir()}) or a path ending in .toml")
            yield Input(value=self.suggestion, id="save-name")
            yield Static("", id="save-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save-ok", variant="primary")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-error").display = False

    @on(Button.Pressed, "#save-ok")
    @on(Input.Submitted, "#save-name")
    def _ok(self) -> None:
        text = self.query_one("#save-name", Input).value.strip()
        error = self.query_one("#save-error", Static)
        if not text or text in (".", "..") or text.endswith("/"):
            error.update("✘ give a file name, e.g. llama-8b-4090")
            error.display = True
            return
        self.dismiss(scenario_path(text))

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class OpenScreen(Dialog[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Back")]

    def compose(self) -> ComposeResult:
        files = scenario_files()
        with Vertical(id="open-box", classes="dialog"):
            yield Static("Open scenario", classes="dialog-title")
            yield Label(f"From {scenarios_dir()}:" if files else f"No scenarios in {scenarios_dir()} yet.")
            yield OptionList(*[Option(p.name, id=str(p)) for p in files], id="open-list")
            yield Label("or a path:")
            yield Input(placeholder="path/to/scenario.toml", id="open-path")
            with Horizontal(classes="buttons"):
                yield Button("Open", id="open-ok", variant="primary")
                yield Button("Cancel", id="open-cancel")

    def on_mount(self) -> None:
        options = self.query_one("#open-list", OptionList)
        (options if options.option_count else self.query_one("#open-path", Input)).focus()

    @on(OptionList.OptionSelected, "#open-list")
    def _pick(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Path(str(event.option.id)))

    @on(Button.Pressed, "#open-ok")
    @on(Input.Submitted, "#open-path")
    def _ok(self) -> None:
        text = self.query_one("#open-path", Input).value.strip()
        if text:  # a path as typed if it exists, else the name as Save stores it
            typed = Path(text).expanduser()
            self.dismiss(typed if typed.is_file() else scenario_path(text))
            return
        options = self.query_one("#open-list", OptionList)
        if options.highlighted is not None:
            self.dismiss(Path(str(options.get_option_at_index(options.highlighted).id)))

    @on(Button.Pressed, "#open-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(Dialog[bool]):
    """A yes/no question; the safe answer is the default and escape."""

    BINDINGS = [Binding("escape", "no", "Back")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button(self.no, id="confirm-no", variant="primary")
                yield Button(self.yes, id="confirm-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#confirm-no").focus()

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)


class UnsavedScreen(Dialog[str | None]):
    """Unsaved changes before quit/open/new: go back (the default), save them first, or discard them."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(f"The scenario has unsaved changes. {self.what}?", classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="unsaved-cancel", variant="primary")
                yield Button("Save, then go on", id="unsaved-save")
                yield Button("Discard changes", id="unsaved-discard", variant="error")

    def on_mount(self) -> None:
        self.query_one("#unsaved-cancel").focus()  # the safe answer is the default, as escape

    @on(Button.Pressed, "#unsaved-save")
    def _save(self) -> None:
        self.dismiss("save")

    @on(Button.Pressed, "#unsaved-discard")
    def _discard(self) -> None:
        self.dismiss("discard")

    @on(Button.Pressed, "#unsaved-cancel")
    def action_back(self) -> None:
        self.dismiss(None)
