"""What the server knows about one open document: the latest result of each of its models.

Each model is analysed in its own job, so the models of one document may come from different
versions of its text; each result keeps the text it was computed from, and ``view`` re-anchors
all of them to the text as it is now. Protocol-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flopsight.lsp.anchoring import anchor_model, anchor_warnings, line_map
from flopsight.report.model import Convention, ModelReport, SourceWarning


@dataclass
class ModelResult:
    """One model's report and the text it describes."""

    text: str
    report: ModelReport
    convention: Convention
    warnings: list[SourceWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = ""


@dataclass
class AnchoredModel:
    """A model's report with every line in the current text (1-based)."""

    report: ModelReport
    convention: Convention
    # True when the report was computed from exactly the current text.
    fresh: bool


@dataclass
class DocumentView:
    models: list[AnchoredModel]
    warnings: list[SourceWarning]
    notes: list[str]

    def model(self, name: str) -> AnchoredModel | None:
        for m in self.models:
            if m.report.name == name:
                return m
        return None


@dataclass
class DocumentResults:
    """The results for one document, by model name."""

    models: dict[str, ModelResult] = field(default_factory=dict)

    def put(self, result: ModelResult) -> None:
        self.models[result.report.name] = result

    def keep_only(self, names: set[str]) -> None:
        """Forgets models the text no longer defines."""
        for name in list(self.models):
            if name not in names:
                del self.models[name]

    def clear(self) -> None:
        self.models.clear()

    def view(self, current_text: str) -> DocumentView:
        models: list[AnchoredModel] = []
        warnings: list[SourceWarning] = []
        notes: list[str] = []
        # File-level warnings come with every job; show those of the newest text once.
        newest: ModelResult | None = None
        for result in self.models.values():
            mapping = line_map(result.text, current_text)
            anchored = anchor_model(result.report, mapping)
            if anchored is not None:
                models.append(
                    AnchoredModel(anchored, result.convention, result.text == current_text)
                )
            if newest is None or result.text == current_text:
                newest = result
        if newest is not None:
            mapping = line_map(newest.text, current_text)
            warnings = anchor_warnings(newest.warnings, mapping)
            notes = list(newest.notes)
        models.sort(key=lambda m: m.report.line)
        return DocumentView(models, warnings, notes)
