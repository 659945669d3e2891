"""What the server knows about one open document: the latest result of each of its models.

Each model is analysed in its own job, so the models of one document may come from different
versions of its text; each result keeps the text it was computed from, and ``view`` re-anchors
all of them to the text as it is now. Protocol-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flopsight.lsp.anchoring import LineMap, anchor_model, anchor_warnings, line_map
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
    # The workspace's other files the job ran (relative path -> sha256 of the text it ran).
    sources: dict[str, str] = field(default_factory=dict)


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
    # Changes whenever a result comes or goes: a view computed earlier is stale.
    generation: int = 0

    def put(self, result: ModelResult) -> None:
        self.models[result.report.name] = result
        self.generation += 1

    def keep_only(self, names: set[str]) -> None:
        """Forgets models the text no longer defines."""
        for name in list(self.models):
            if name not in names:
                del self.models[name]
                self.generation += 1

    def clear(self) -> None:
        self.models.clear()
        self.generation += 1

    def sources(self) -> dict[str, str]:
        """The other files the latest results ran, with the digest each ran (the newest wins)."""
        out: dict[str, str] = {}
        for result in self.models.values():
            out.update(result.sources)
        return out

    def texts(self) -> list[str]:
        """The distinct texts the results were computed from."""
        return list({id(r.text): r.text for r in self.models.values()}.values())

    def view(
        self,
        current_text: str,
        maps: dict[int, LineMap] | None = None,
        owner: str | None = None,
    ) -> DocumentView:
        """The results anchored to ``current_text``; ``maps``: line maps already computed, by
        ``id`` of the old text (``texts()``), else computed here (cached for ``owner``)."""
        models: list[AnchoredModel] = []
        warnings: list[SourceWarning] = []
        notes: list[str] = []
        # File-level warnings come with every job; show those of the newest text once.
        newest: ModelResult | None = None

        def mapping_of(text: str) -> LineMap:
            if maps is not None and id(text) in maps:
                return maps[id(text)]
            return line_map(text, current_text, owner)

        for result in self.models.values():
            mapping = mapping_of(result.text)
            anchored = anchor_model(result.report, mapping)
            if anchored is not None:
                models.append(
                    AnchoredModel(anchored, result.convention, result.text == current_text)
                )
            if newest is None or result.text == current_text:
                newest = result
        if newest is not None:
            mapping = mapping_of(newest.text)
            warnings = anchor_warnings(newest.warnings, mapping)
            notes = list(newest.notes)
        models.sort(key=lambda m: m.report.line)
        return DocumentView(models, warnings, notes)
