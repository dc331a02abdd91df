"""The key bar at the bottom of every screen: the bindings that are active now, in one line.

Textual's Footer mounts a widget per key and recomposes them all whenever focus moves; with a dozen
bindings that was the largest part of start-up after the form (docs/performance.md). This bar is
one widget that re-renders a line of text. Disabled actions are dimmed, not hidden; a click on a key
runs its action.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--disabled"}
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $footer-background; color: $footer-foreground; }
    KeyBar > .keybar--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
    KeyBar > .keybar--description { color: $footer-description-foreground; }
    KeyBar > .keybar--disabled { color: $text-disabled; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[tuple[int, int, str, object]] = []  # (start, end, action, namespace node)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        desc_style = self.get_component_rich_style("keybar--description")
        off_style = self.get_component_rich_style("keybar--disabled")
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        self._spans = []
        seen: set[str] = set()
        palette = None
        for node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.action == "command_palette":
                palette = (node, binding, enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            start = len(text)
            text.append(f" {self.app.get_key_display(binding)} ", key_style if enabled else off_style)
            text.append(f"{binding.description} ", desc_style if enabled else off_style)
            self._spans.append((start, len(text), binding.action, node))
        if palette is not None:  # always visible at the right end; the keys give way to it
            node, binding, enabled = palette
            label = f" {self.app.get_key_display(binding)} palette "
            room = max(0, self.size.width - len(label) - 1)
            if len(text) > room:
                text.truncate(room, overflow="ellipsis")
                self._spans = [span for span in self._spans if span[1] < room]
            text.append(" " * max(1, self.size.width - len(text) - len(label)))
            start = len(text)
            text.append(label, key_style if enabled else off_style)
            self._spans.append((start, len(text), binding.action, node))
        return text

    async def on_click(self, event: events.Click) -> None:
        for start, end, action, node in self._spans:
            if start <= event.x < end:
                await self.app.run_action(action, node)  # type: ignore[arg-type]
                return
