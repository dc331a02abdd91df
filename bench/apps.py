"""The apps the benchmarks compare: vramtui and a minimal Textual app of similar shape (the floor)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header


class MinimalApp(App):
    """Header, a 60-row DataTable and a Footer: what any Textual app of this kind pays to start."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("GPU", "need", "usable", "fits", "headroom", "price")
        for i in range(60):
            table.add_row(f"gpu-{i}", f"{i}.0", "24.0", "yes", f"+{i}.0", f"${i * 100}")


def make(name: str) -> App:
    if name == "minimal":
        return MinimalApp()
    from vramtui.tui.app import VramApp

    return VramApp()
