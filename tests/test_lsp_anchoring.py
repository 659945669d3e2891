"""Re-anchoring: while the text changes, earlier results follow their statements or are
withheld, and never sit on the wrong line; fresh results land on the new lines.

Labels of the seed MLP in the ptflops convention (by hand in test_lsp_inlay_hints.py)."""

from __future__ import annotations

import pytest_lsp
from flopsight.lsp.anchoring import line_map
from lsp_harness import EXAMPLES, SERVER, inlay_hints, insert, line_of, open_text, save, start
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()
LINES = TEXT.splitlines()
# Far longer than the test: nothing re-analyses until the test saves.
NO_DEBOUNCE = {"convention": "ptflops", "debounceMs": 600_000}


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_three_lines_above_a_layer(client: LanguageClient) -> None:
    recorder = await start(client, NO_DEBOUNCE)
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    before = await inlay_hints(client, uri)
    stack = line_of(TEXT, "self.linear_relu_stack = nn.Sequential(")
    second = line_of(TEXT, "nn.Linear(512, 512)")
    assert before[second] == "262.66 KMac · 262.66 k params · 39.2%"

    # Three statements above the Sequential that holds the layer, not yet analysed.
    insert(client, uri, stack, 0, "        self.a = 1\n        self.b = 2\n        self.c = 3\n", 2)
    moved = await inlay_hints(client, uri)
    added = ["        self.a = 1", "        self.b = 2", "        self.c = 3"]
    new_lines = [*LINES[:stack], *added, *LINES[stack:]]
    # Every hint still there sits on its own statement's text, three lines down.
    for line, label in moved.items():
        old = line - 3 if line >= stack else line
        assert before.get(old) == label and new_lines[line] == LINES[old]
    assert moved.get(second + 3) in (None, before[second])
    # The old line of the layer now holds another statement: not the layer's label.
    assert moved.get(second) != before[second]

    # After the analysis of the new text, the hint is on the new line.
    done = recorder.finished(uri)
    save(client, uri)
    await recorder.analysed(uri, done)
    after = await inlay_hints(client, uri)
    assert after[second + 3] == "262.66 KMac · 262.66 k params · 39.2%"
    assert after == {(line + 3 if line >= stack else line): lb for line, lb in before.items()}


async def test_edit_inside_a_statement_withholds_its_hints(client: LanguageClient) -> None:
    recorder = await start(client, NO_DEBOUNCE)
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    before = await inlay_hints(client, uri)
    second = line_of(TEXT, "nn.Linear(512, 512)")
    # Three lines inside the Sequential call: its statement changed, so its numbers (and
    # only its) are withheld until the new text is analysed.
    insert(client, uri, second, 0, "            nn.Identity(),\n" * 3, 2)
    during = await inlay_hints(client, uri)
    stack = line_of(TEXT, "self.linear_relu_stack = nn.Sequential(")
    for line in range(stack, line_of(TEXT, "        )") + 4):
        assert line not in during
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)")
    assert during[call + 3] == before[call]


async def test_half_typed_code_keeps_unchanged_lines_only(client: LanguageClient) -> None:
    recorder = await start(client, NO_DEBOUNCE)
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    before = await inlay_hints(client, uri)
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)")
    # The file stops parsing: lines that did not change keep their hints, on their own text.
    insert(client, uri, call, 0, "        y = self.linear_relu_stack(\n", 2)
    during = await inlay_hints(client, uri)
    assert during[call + 1] == before[call]
    assert call not in during


def test_line_map_follows_statements() -> None:
    helper = "    def helper(self):\n        pass\n\n"
    new = TEXT.replace("    def forward(self, x):", helper + "    def forward(self, x):")
    mapping = line_map(TEXT, new)
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)") + 1
    assert mapping[call] == call + 3
    # A changed statement maps nowhere; unchanged ones around it stay put.
    edited = TEXT.replace("nn.Linear(512, 10)", "nn.Linear(512, 20)")
    mapping = line_map(TEXT, edited)
    assert line_of(TEXT, "nn.Linear(512, 10)") + 1 not in mapping
    assert mapping[call] == call
    # forward renamed and another forward added above __init__: the old forward's lines go to
    # no line of the new forward (identity is the name and the statement's text).
    stub = "    def forward(self, x):\n        return x\n\n"
    swapped = TEXT.replace("    def __init__(self):", stub + "    def __init__(self):", 1)
    swapped = swapped.replace(
        "    def forward(self, x):\n        x = self.flatten",
        "    def other(self, x):\n        x = self.flatten",
    )
    mapping = line_map(TEXT, swapped)
    assert call not in mapping


def test_anchor_model_withholds_what_has_no_sure_match() -> None:
    """On a hand-made report: lines follow their statements, the rest is withheld."""
    from flopsight.lsp.anchoring import anchor_model
    from flopsight.report.model import LayerCost, LineCost, ModelReport, Totals

    fc = line_of(TEXT, "nn.Linear(28 * 28, 512)") + 1
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)") + 1
    cls = line_of(TEXT, "class NeuralNetwork") + 1
    report = ModelReport(
        name="NeuralNetwork",
        kind="class",
        line=cls,
        total=Totals(macs=10),
        layers=[LayerCost("linear_relu_stack.0", "Linear", fc, 1, 4, 8, 5)],
        lines=[LineCost(call, 10, 20)],
    )
    # Two lines added at the top: everything moves down by two.
    moved = anchor_model(report, line_map(TEXT, "import os\nimport sys\n" + TEXT))
    assert moved is not None
    assert (moved.line, moved.layers[0].line, moved.lines[0].line) == (cls + 2, fc + 2, call + 2)
    # The forward line edited: its cost is withheld, the layer keeps its line.
    edited = TEXT.replace(
        "logits = self.linear_relu_stack(x)", "logits = self.linear_relu_stack(x * 2)"
    )
    moved = anchor_model(report, line_map(TEXT, edited))
    assert moved is not None and moved.lines == [] and moved.layers[0].line == fc
    # The class line itself changed (another input shape): the whole model is withheld.
    reshaped = TEXT.replace("input=(1, 28, 28)", "input=(2, 28, 28)")
    assert anchor_model(report, line_map(TEXT, reshaped)) is None
    # Windows line endings change no line number.
    assert line_map(TEXT, TEXT.replace("\n", "\r\n"))[call] == call


def test_lines_of_other_files_do_not_move_with_this_text() -> None:
    """A layer built in layers.py and a line of layers.py keep their lines when the analysed
    file changes: the mapping is this text's, not theirs."""
    from flopsight.lsp.anchoring import anchor_model
    from flopsight.report.model import LayerCost, LineCost, ModelReport, Totals

    cls = line_of(TEXT, "class NeuralNetwork") + 1
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)") + 1
    report = ModelReport(
        name="NeuralNetwork",
        kind="class",
        line=cls,
        total=Totals(macs=10),
        layers=[LayerCost("body.fc", "Linear", 3, 1, 4, 8, 5, file="layers.py")],
        lines=[LineCost(call, 6, 12), LineCost(call, 4, 8, file="layers.py")],
    )
    # Two lines added at the top (moves this file's lines), and the line `call` of this file
    # edited away in a second text: layers.py's entries stay as they are either way.
    moved = anchor_model(report, line_map(TEXT, "import os\nimport sys\n" + TEXT))
    assert moved is not None
    assert moved.layers[0].line == 3 and moved.layers[0].file == "layers.py"
    assert [(c.file, c.line) for c in moved.lines] == [(None, call + 2), ("layers.py", call)]
    edited = TEXT.replace(
        "logits = self.linear_relu_stack(x)", "logits = self.linear_relu_stack(x * 2)"
    )
    moved = anchor_model(report, line_map(TEXT, edited))
    assert moved is not None and [(c.file, c.line) for c in moved.lines] == [("layers.py", call)]
