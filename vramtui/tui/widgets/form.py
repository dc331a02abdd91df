"""Labelled form rows: a field, its error (shown at the field, in words) and why it is disabled."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, Static


class FieldRow(Widget):
    """One labelled field on a two-column grid; a note under it says what is wrong or why it is off.

    Four widgets a row (row, label, field, note): the Workload screen is the first frame, and Textual's
    start-up cost grows with the number of styled widgets.
    """

    def __init__(self, label: str, field: Widget, help: str = "", **kwargs) -> None:
        super().__init__(classes="field-row", **kwargs)
        self.label = label
        self.field = field
        self.help = help
        self._error: str | None = None
        self._reason: str | None = None
        self._hint: str | None = None
        if help:
            field.tooltip = help
        if hasattr(field, "compact"):
            field.compact = True  # one line per field: eight fields fit an 80×24 screen

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="field-label")
        yield self.field
        yield Static("", classes="field-note")

    def _show(self) -> None:
        note = self.query_one(".field-note", Static)
        if self._error:
            note.update(f"✘ {self._error}")
        elif self._reason:
            note.update(f"⊘ {self._reason}")
        elif self._hint:
            note.update(f"⚙ {self._hint}")
        else:
            note.update("")
        self.set_class(bool(self._error), "-invalid")
        self.set_class(bool(self._reason), "-disabled")
        self.set_class(bool(self._hint) and not self._error and not self._reason, "-hint")

    @property
    def error(self) -> str | None:
        return self._error

    def set_error(self, message: str | None) -> None:
        self._error = message or None
        self._show()

    def set_hint(self, hint: str | None) -> None:
        """Say where the value in force comes from (a runtime default), without disabling the field."""
        if hint != self._hint:
            self._hint = hint or None
            self._show()

    def set_reason(self, reason: str | None) -> None:
        """Grey the field out and say why (or re-enable it with ``None``)."""
        self.field.disabled = bool(reason)
        self._reason = reason or None
        self._show()


def row_of(widget: Widget) -> FieldRow | None:
    """The FieldRow a field sits in (None outside a form)."""
    return next((a for a in widget.ancestors_with_self if isinstance(a, FieldRow)), None)


def set_quietly(widget: Widget, value) -> None:
    """Show a value from the scenario without re-posting it as a user edit.

    Works for any field with a ``value`` and a ``Changed`` message (Choice, Select, Checkbox, Input).
    """
    if widget.value != value:  # type: ignore[attr-defined]
        with widget.prevent(type(widget).Changed):  # type: ignore[attr-defined]
            widget.value = value  # type: ignore[attr-defined]
