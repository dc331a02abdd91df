"""Model: a searchable preset list, a custom-architecture form, and config.json import."""

from __future__ import annotations

from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, DataTable, Input, Static, TabbedContent, TabPane, Tabs

from ...core import presets
from ...core.errors import describe
from ...core.hfconfig import ConfigImportError, load_config
from ...core.model import ModelSpec
from ...core.record import ValidationError
from ...core.scenario import ModelChoice
from ...core.units import fmt_count, fmt_tokens
from ..state import Result
from ..widgets.form import FieldRow, set_quietly
from ..widgets.switch import OnOff
from .base import VramScreen

CUSTOM_FIELDS = (
    ("hidden_size", "Hidden size"), ("num_hidden_layers", "Layers"), ("num_attention_heads", "Attention heads"),
    ("num_key_value_heads", "KV heads"), ("head_dim", "Head dim (optional)"), ("intermediate_size", "MLP width"),
    ("vocab_size", "Vocabulary"), ("max_position_embeddings", "Max context"),
)


# families people pick most often first; the rest keep their file order after these
FAMILY_ORDER = ("llama", "qwen3", "qwen", "mistral", "mixtral", "gemma", "phi", "deepseek", "gpt-oss", "smollm",
                "tinyllama", "granite", "olmo", "yi", "command-r", "falcon", "starcoder2", "gpt2", "opt", "guide")


def _family_rank(spec: ModelSpec) -> int:
    return FAMILY_ORDER.index(spec.family) if spec.family in FAMILY_ORDER else len(FAMILY_ORDER)


matches = presets.matches  # the one matcher, shared with `vramtui models`


class PathSuggester(Suggester):
    """Completes a path typed into the model box (a folder or a .gguf file), from the file system."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value.startswith(("/", "./", "../", "~")):
            return None
        path = Path(value).expanduser()
        folder, stem = (path, "") if value.endswith("/") else (path.parent, path.name)
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                           if p.name.startswith(stem) and (p.is_dir() or p.suffix == ".gguf"))
        except OSError:
            return None
        return value + names[0][len(stem):] if names else None


class ModelScreen(VramScreen):
    TITLE_SUFFIX = "Model"
    CSS_PATH = "model.tcss"  # loaded when the screen is first shown
    BINDINGS = [Binding("down", "focus_list", "List", show=False)]

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="model-tabs"):
            with TabPane("Presets", id="tab-presets"):
                yield Input(placeholder="filter presets (qwen 7b, moe) or load: org/name, a folder, a .gguf file",
                            id="model-search", compact=True, suggester=PathSuggester(),
                            select_on_focus=False)  # a key typed on the list lands here and the next one follows it
                yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="model-count", classes="hint")
            with TabPane("Custom", id="tab-custom"):
                for field, label in CUSTOM_FIELDS:
                    yield FieldRow(label, Input(id=f"custom-{field}"))
                yield FieldRow("Tied embeddings", OnOff(id="custom-tie"))
                yield FieldRow("Gated MLP (SwiGLU)", OnOff(True, id="custom-gated"))
                with Horizontal(classes="buttons"):
                    yield Button("Use this model", id="custom-apply", variant="primary", compact=True)
                yield Static("", id="custom-result", classes="hint")
            with TabPane("Import config.json", id="tab-import"):
                yield FieldRow("config.json path", Input(placeholder="path/to/config.json", id="import-path"),
                               "A Hugging Face config.json (llama, mistral, qwen2/3, gemma, phi, deepseek, gpt-oss, …)")
                with Horizontal(classes="buttons"):
                    yield Button("Import", id="import-apply", variant="primary", compact=True)
                yield Static("", id="import-result", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#model-table", DataTable)
        # the name last: the id says most of it, and at 80 columns params, context and features stay whole
        table.add_columns("id", "params", "context", "features", "name")
        self._fill("")
        super().on_mount()
        self._fill_custom(self.vram.scenario.model.spec)
        self.query_one("#model-search", Input).focus()

    # presets ---------------------------------------------------------------------------
    def _fill(self, query: str) -> None:
        table = self.query_one("#model-table", DataTable)
        table.clear()
        shown = sorted((m for m in presets.models().values() if matches(m, query)), key=_family_rank)
        for m in shown:
            table.add_row(m.id, fmt_count(m.total_parameters), fmt_tokens(m.max_position_embeddings),
                          " ".join(m.features), m.name, key=m.id)
        total = len(presets.models())
        self.query_one("#model-count", Static).update(
            f"{len(shown)} of {total} presets · Enter picks the highlighted one" if shown else f"no preset matches {query!r}")

    @on(Input.Changed, "#model-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#model-search")
    def _pick_first(self, event: Input.Submitted) -> None:
        table = self.query_one("#model-table", DataTable)
        if table.row_count:
            self._pick(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
        elif event.value.strip():
            self.load_source(event.value.strip())

    def load_source(self, text: str) -> None:
        """A Hub id, a folder or a GGUF file: read its metadata off the UI thread, keep the model on error."""
        count = self.query_one("#model-count", Static)
        count.set_class(False, "-error")
        count.update(f"⋯ reading the metadata of {text} (config and headers only)")
        self._read_source(text)

    @work(thread=True, exclusive=True, group="model-source")
    def _read_source(self, text: str) -> None:
        from ...core.sources.resolve import SourceError, model_table, resolve

        try:
            r = resolve(text)
            table = model_table(text)
        except (SourceError, OSError, ValueError) as exc:
            self.app.call_from_thread(self._source_failed, str(exc))
            return
        self.app.call_from_thread(self._source_loaded, r, table)

    def _source_failed(self, message: str) -> None:
        count = self.query_one("#model-count", Static)
        count.update(f"✘ {message}")
        count.set_class(True, "-error")

    def _source_loaded(self, r, table: dict[str, str]) -> None:
        key = next(k for k in ("preset", "hub", "folder", "gguf") if k in table)
        choice = ModelChoice(**{key: table[key]}, revision=table.get("revision"), spec=r.spec)
        error = self.vram.load_model(choice, r.weights)
        if error:
            self._source_failed(error)
            return
        self._fill_custom(r.spec)
        self.query_one("#model-count", Static).update(
            f"✔ {r.spec.name}: {r.spec.total_parameters:,} parameters from {r.kind} {r.ref}"
            + (f", stored as {r.weights}" if r.weights else ""))

    @on(DataTable.RowSelected, "#model-table")
    def _pick_row(self, event: DataTable.RowSelected) -> None:
        self._pick(str(event.row_key.value))

    TABS = ("tab-presets", "tab-custom", "tab-import")
    FIRST_FIELD = {"tab-presets": "#model-search", "tab-custom": "#custom-hidden_size", "tab-import": "#import-path"}

    def again(self) -> None:
        tabs = self.query_one("#model-tabs", TabbedContent)
        self.show_tab(self.TABS[(self.TABS.index(tabs.active) + 1) % len(self.TABS)])

    def show_tab(self, tab: str) -> None:
        """One of the three tabs, its first field focused (F2 again, or the palette)."""
        tabs = self.query_one("#model-tabs", TabbedContent)
        tabs.query_one(Tabs).focus()  # stays in view while the panes switch, so focus does not fall elsewhere
        tabs.active = tab
        self.call_after_refresh(lambda: self.query_one(self.FIRST_FIELD[tab]).focus())

    def on_key(self, event: events.Key) -> None:
        """Typing while the preset list has focus goes to the filter, as it would in a file picker."""
        table = self.query_one("#model-table", DataTable)
        if self.focused is table and event.is_printable and event.character:
            search = self.query_one("#model-search", Input)
            search.focus()
            search.insert_text_at_cursor(event.character)
            event.stop()
            event.prevent_default()

    def action_focus_list(self) -> None:
        if self.focused is self.query_one("#model-search"):
            self.query_one("#model-table").focus()

    def _pick(self, model_id: str) -> None:
        spec = presets.model(model_id)
        self.vram.set_model(ModelChoice(preset=model_id, spec=spec))
        self._fill_custom(spec)
        self.notify(f"Model: {spec.name}", timeout=2)

    # custom ------------------------------------------------------------------------------
    def _fill_custom(self, spec: ModelSpec) -> None:
        """The custom form starts from the current model (its errors were about the values replaced)."""
        for field, _ in CUSTOM_FIELDS:
            value = getattr(spec, field)
            set_quietly(self.query_one(f"#custom-{field}", Input), "" if value is None else str(value))
            self.row(f"custom-{field}").set_error(None)
        self._custom_base = spec
        set_quietly(self.query_one("#custom-tie", Checkbox), spec.tie_word_embeddings)
        set_quietly(self.query_one("#custom-gated", Checkbox), spec.mlp_gated)

    @on(Button.Pressed, "#custom-apply")
    def _apply_custom(self) -> None:
        self.use_custom()

    def use_custom(self) -> bool:
        # everything the form does not show (experts, MLA ranks, window, hybrid layers, biases ...) is the
        # model's it started from, so a MoE model stays a MoE model
        base = getattr(self, "_custom_base", self.vram.scenario.model.spec)
        keep = base.model_dump(exclude={"id", "name", "family", "source", "parameters", "parameters_source",
                                        "parameters_note", "stored_format", "stored_bytes", "stored_extra_bytes",
                                        "stored_token_embd_bytes", "stored_output_bytes", "stored_layer_bytes",
                                        "stored_expert_bytes"})
        values: dict = {**keep, "id": "custom", "name": f"Custom ({base.name})" if base.id != "custom" else "Custom model",
                        "family": "custom"}
        ok = True
        for field, label in CUSTOM_FIELDS:
            box = self.query_one(f"#custom-{field}", Input)
            row = self.row(f"custom-{field}")
            text = box.value.strip().replace(",", "").replace("_", "")
            if not text and field in ("head_dim", "num_key_value_heads"):
                values[field] = None
                row.set_error(None)
                continue
            try:
                values[field] = int(text)
                row.set_error(None)
            except ValueError:
                row.set_error(f"{label}: {box.value!r} is not a whole number")
                ok = False
        values["tie_word_embeddings"] = self.query_one("#custom-tie", Checkbox).value
        values["mlp_gated"] = self.query_one("#custom-gated", Checkbox).value
        result = self.query_one("#custom-result", Static)
        if not ok:
            result.update("✘ fix the fields marked above")
            return False
        try:
            spec = ModelSpec.model_validate(values)
        except ValidationError as exc:
            result.update(f"✘ {describe(exc)}")
            return False
        self.vram.set_model(ModelChoice(spec=spec))
        result.update(f"✔ custom model: {spec.total_parameters:,} parameters")
        return True

    # import ------------------------------------------------------------------------------
    @on(Button.Pressed, "#import-apply")
    @on(Input.Submitted, "#import-path")
    def _import(self) -> None:
        self.import_config(self.query_one("#import-path", Input).value)

    def import_config(self, text: str) -> bool:
        row = self.row("import-path")
        result = self.query_one("#import-result", Static)
        path = Path(text.strip()).expanduser()
        if not text.strip():
            row.set_error("give the path of a config.json")
            return False
        try:
            spec = load_config(path)
        except ConfigImportError as exc:
            row.set_error(str(exc))
            result.update("")
            return False
        row.set_error(None)
        self.vram.set_model(ModelChoice(config=str(path.resolve()), spec=spec))
        self._fill_custom(spec)
        result.update(f"✔ {spec.name}: {spec.total_parameters:,} parameters ({spec.family})")
        return True

    def render_result(self, result: Result) -> None:
        spec = result.scenario.model.spec
        table = self.query_one("#model-table", DataTable)
        if result.scenario.model.preset and result.scenario.model.preset in table.rows:
            index = table.get_row_index(result.scenario.model.preset)
            if table.cursor_row != index and not table.has_focus:
                table.move_cursor(row=index)
        self.query_one("#model-count", Static).set_class(False, "-error")
        self.sub_title = f"Model · {spec.name}"
