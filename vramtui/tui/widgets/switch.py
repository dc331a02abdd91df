"""A checkbox that says its state in words ("on" / "off"), so a monochrome terminal or a screen capture
shows it as clearly as colour does."""

from __future__ import annotations

from textual.widgets import Checkbox


class OnOff(Checkbox):
    def __init__(self, value: bool = False, **kwargs) -> None:
        super().__init__("on" if value else "off", value, **kwargs)

    def watch_value(self) -> None:
        super().watch_value()  # the -on class and the Changed message
        self.label = "on" if self.value else "off"
