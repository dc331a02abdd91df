"""Labelled form rows: a field, its error (shown at the field, in words) and why it is disabled."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static


class FieldRow(Vertical):
    """One labelled field. ``error`` and ``reason`` lines appear under it only when set."""

    def __init__(self, label: str, field: Widget, help: str = "", **kwargs) -> None:
        super().__init__(classes="field-row", **kwargs)
        self.label = label
        self.field = field
        self.help = help
        if help:
            field.tooltip = help
        if hasattr(field, "compact"):
            field.compact = True  # one line per field: eight fields fit an 80×24 screen

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(self.label, classes="field-label")
            yield self.field
        yield Static("", classes="field-error")
        yield Static("", classes="field-reason")

    def set_error(self, message: str | None) -> None:
        self.query_one(".field-error", Static).update(f"✘ {message}" if message else "")
        self.set_class(bool(message), "-invalid")

    def set_reason(self, reason: str | None) -> None:
        """Grey the field out and say why (or re-enable it with ``None``)."""
        self.field.disabled = bool(reason)
        self.query_one(".field-reason", Static).update(f"⊘ {reason}" if reason else "")
        self.set_class(bool(reason), "-disabled")


def set_quietly(widget: Widget, value) -> None:
    """Show a value from the scenario without re-posting it as a user edit."""
    if isinstance(widget, Select):
        if widget.value != value:
            with widget.prevent(Select.Changed):
                widget.value = value
    elif isinstance(widget, Checkbox):
        if widget.value != value:
            with widget.prevent(Checkbox.Changed):
                widget.value = value
    elif isinstance(widget, Input):
        if widget.value != value:
            with widget.prevent(Input.Changed):
                widget.value = value
