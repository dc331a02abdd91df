"""What the four top-level screens share: header, summary panel, body, footer, and a subscription
to the App's ``result`` so each redraws from the same computed estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header

from ..state import Result
from ..widgets.form import FieldRow, row_of
from ..widgets.keybar import KeyBar
from ..widgets.summary import SummaryPanel

if TYPE_CHECKING:
    from ..app import VramApp


class VramScreen(Screen):
    """A mode screen. Subclasses yield their body in ``compose_body`` and redraw in ``render_result``."""

    TITLE_SUFFIX = ""
    BODY_SCROLLS = True  # the GPU grid scrolls itself instead

    @property
    def vram(self) -> VramApp:
        return cast("VramApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield SummaryPanel(id="summary")
        body = VerticalScroll(id="body", can_focus=False) if self.BODY_SCROLLS else Vertical(id="body")
        with body:
            yield from self.compose_body()
        yield KeyBar()

    def compose_body(self) -> ComposeResult:  # pragma: no cover - abstract
        yield from ()

    def on_mount(self) -> None:
        self.sub_title = self.TITLE_SUFFIX

        self.watch(self.app, "result", self._on_result, init=True)
        self.watch(self.app, "unit", lambda _u: self._on_result(self.vram.result), init=False)
        self.watch(self.app, "status", self.query_one(SummaryPanel).show_status, init=True)
        self.watch(self.app, "loads", self._drop_field_errors, init=False)

    _stale = False

    def _on_result(self, result: Result | None) -> None:
        if result is None:
            return
        if not self.is_current:  # a screen in another mode redraws when it is shown again, not on every edit
            self._stale = True
            return
        self.query_one(SummaryPanel).show(result, self.vram.unit)
        self._drop_stale_errors()
        self.render_result(result)

    def _drop_stale_errors(self) -> None:
        """A new scenario answers a refused choice: its message goes (a typed value keeps its own until fixed)."""
        from textual.widgets import Input

        for row in self.query(FieldRow):
            if not isinstance(row.field, Input):
                row.set_error(None)

    def redraw(self) -> None:
        """Render the App's current result again (ctrl+l); nothing is recomputed."""
        self._on_result(self.vram.result)

    def row(self, field_id: str) -> FieldRow:
        """The form row of the field with this id."""
        return row_of(self.query_one(f"#{field_id}"))  # type: ignore[return-value]

    # a file (or New) replaced the scenario: fields show its values even where the cursor is
    reload_fields = False

    def _drop_field_errors(self, _loads: int) -> None:
        """A scenario from a file replaces whatever half-typed value a field was flagging."""
        self.reload_fields = True
        for row in self.query(FieldRow):
            row.set_error(None)

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self._on_result(self.vram.result)

    def on_resize(self) -> None:
        self.vram.apply_compact()
        if self.vram.result is not None:
            self.query_one(SummaryPanel).show(self.vram.result, self.vram.unit)

    def help_legend(self) -> str:
        """What F1 adds for this screen (the GPU grid explains its columns)."""
        return ""

    async def after_first_frame(self) -> None:
        """Build what the first frame could do without; the App calls it once that frame is shown."""

    def again(self) -> None:
        """The screen's key pressed while it is shown (the Model screen steps through its tabs)."""

    def render_result(self, result: Result) -> None:
        """Bring the body's widgets in line with ``result`` (never recompute memory here)."""
