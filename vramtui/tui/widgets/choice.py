"""A one-widget drop-down: shows the current option; ←/→ step through the options, typing jumps to
the option that starts with what was typed (type-ahead), Enter (or a click) opens a list to pick from.

Textual's ``Select`` mounts a current-value row and an overlay list per field (~10 ms each); six of
them were a third of the start-up time. This widget renders one line and builds its list only when
opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import monotonic
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

T = TypeVar("T")
TYPE_AHEAD_S = 1.0  # keys closer together than this extend one search, as in a file manager's list


class _Picker(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]
    DEFAULT_CSS = """
    _Picker { align: center middle; }
    _Picker OptionList { width: auto; min-width: 30; max-width: 90%; height: auto; max-height: 80%; border: tall $accent; }
    """

    def __init__(self, labels: Sequence[str], index: int) -> None:
        super().__init__()
        self.labels, self.index = labels, index

    def compose(self) -> ComposeResult:
        yield OptionList(*[Option(label, id=str(i)) for i, label in enumerate(self.labels)])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self.index
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))


class Choice(Widget, Generic[T], can_focus=True):
    """One of a fixed list of values, shown on one line."""

    BINDINGS = [
        Binding("enter,space", "open", "Choose", show=False),
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("right", "step(1)", "Next", show=False),
    ]
    DEFAULT_CSS = """
    Choice { height: 1; width: 1fr; background: $boost; padding: 0 1; }
    Choice:focus { background: $primary 30%; text-style: bold; }
    Choice:disabled { color: $text-disabled; background: $panel; }
    """

    index: reactive[int] = reactive(0)
    compact = True  # always one line; accepted so forms can treat it like Input and Select

    class Changed(Message):
        def __init__(self, choice: Choice[Any], value: Any) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice[Any]:
            return self.choice

    def __init__(self, options: Sequence[tuple[str, T]], value: T, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels = [label for label, _ in options]
        self._values = [v for _, v in options]
        self.set_reactive(Choice.index, self._values.index(value))

    @property
    def value(self) -> T:
        return self._values[self.index]

    @value.setter
    def value(self, new: T) -> None:
        self.index = self._values.index(new)

    def render(self) -> Text:
        return Text.assemble(self._labels[self.index], ("  ▼", "dim"), no_wrap=True, overflow="ellipsis")

    def watch_index(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Changed(self, self._values[new]))

    _typed, _typed_at = "", 0.0

    def on_key(self, event: events.Key) -> None:
        """Type-ahead: "q4_k" reaches Q4_K_M from anywhere; the same letter again goes to its next option."""
        char = event.character
        if not event.is_printable or not char or char == " ":
            return
        now = monotonic()
        typed = (self._typed if now - self._typed_at < TYPE_AHEAD_S else "") + char.lower()
        self._typed, self._typed_at = typed, now
        found = self._find(typed, self.index if len(typed) > 1 else self.index + 1)
        if found is None and len(set(typed)) == 1:  # "qq": the next option starting with q
            found = self._find(typed[0], self.index + 1)
        if found is not None:
            self.index = found
        event.stop()

    def _find(self, prefix: str, start: int) -> int | None:
        n = len(self._values)
        for k in range(n):
            i = (start + k) % n
            if self._labels[i].lower().startswith(prefix) or str(self._values[i]).lower().startswith(prefix):
                return i
        return None

    def action_step(self, delta: int) -> None:
        self.index = (self.index + delta) % len(self._values)

    def action_open(self) -> None:
        def chosen(index: int | None) -> None:
            if index is not None:
                self.index = index
            self.focus()

        self.app.push_screen(_Picker(self._labels, self.index), chosen)

    def on_click(self, event: events.Click) -> None:
        self.action_open()
