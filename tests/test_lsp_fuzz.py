"""Fuzz: 1,000 random edits (insertions, deletions, half-typed code; seeded) streamed at the
server. It answers every request, never crashes, never puts a number on a line that is not the
statement it was computed for, and ends with the right hints for the final text.

The final hints are the seed MLP's in the ptflops convention, by hand (as in
test_lsp_inlay_hints.py): Linear(784, 512) = 784·512 + 512 = 401,920 MACs of 670,730 (59.9 %),
Linear(512, 512) = 262,656 (39.2 %), Linear(512, 10) = 5,130 (0.8 %), each ReLU 512 (0.1 %).
"""

from __future__ import annotations

import asyncio
import random

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, inlay_hint_objects, line_of, open_text, save, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()
LINES = TEXT.splitlines()
EXPECTED = {
    line_of(TEXT, "nn.Sequential("): "670.73 KMac · 669.71 k params · 100.0%",
    line_of(TEXT, "nn.Linear(28 * 28, 512)"): "401.92 KMac · 401.92 k params · 59.9%",
    line_of(TEXT, "nn.Linear(28 * 28, 512)") + 1: "512 Mac · 0 params · 0.1%",
    line_of(TEXT, "nn.Linear(512, 512)"): "262.66 KMac · 262.66 k params · 39.2%",
    line_of(TEXT, "nn.Linear(512, 512)") + 1: "512 Mac · 0 params · 0.1%",
    line_of(TEXT, "nn.Linear(512, 10)"): "5.13 KMac · 5.13 k params · 0.8%",
    line_of(TEXT, "logits = self.linear_relu_stack(x)"): "670.73 KMac → [1, 10]",
}
SNIPPETS = [
    "nn.Linear(",
    "nn.Linear(512, 512),\n",
    "def ",
    "    def forward(self, x):\n",
    "        x = ",
    "self.",
    "(",
    ")",
    "]",
    ":",
    "\n",
    "\n\n",
    "# note\n",
    "        self.extra = nn.Conv2d(3, 8, 3)\n",
    "return ",
    '"',
    "'''",
    "class ",
    "    ",
    "x",
    "# flopsight: input=(1, 28, 28)",
    "# flopsight: inptu=(",
    "é",
]


class Doc:
    """The client's copy of the text, edited the way the server is told."""

    def __init__(self, client: LanguageClient, uri: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1

    def position(self, offset: int) -> types.Position:
        before = self.text[:offset]
        line = before.count("\n")
        col_text = before[before.rfind("\n") + 1 :]
        return types.Position(line=line, character=len(col_text.encode("utf-16-le")) // 2)

    def edit(self, start: int, end: int, new: str) -> None:
        rng = types.Range(start=self.position(start), end=self.position(end))
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )

    def replace(self, text: str) -> None:
        self.edit(0, len(self.text), text)

    def random_edit(self, rng: random.Random) -> None:
        offset = rng.randint(0, len(self.text))
        if rng.random() < 0.6 or len(self.text) < 50:
            self.edit(offset, offset, rng.choice(SNIPPETS))
        else:
            self.edit(offset, min(len(self.text), offset + rng.randint(1, 30)), "")


def check_hints(hints: list[types.InlayHint], text: str, strict: bool) -> int:
    lines = text.split("\n")
    for hint in hints:
        row = hint.position.line
        assert row < len(lines)
        assert hint.position.character == len(lines[row].encode("utf-16-le")) // 2
        assert isinstance(hint.label, str) and 0 < len(hint.label) < 40
        if strict:
            # Results of the original text: the label sits on a line whose text is that of a
            # line the label was computed for.
            assert any(
                label == hint.label and LINES[old] == lines[row] for old, label in EXPECTED.items()
            ), (row, lines[row], hint.label)
    return len(hints)


async def requests(client: LanguageClient, doc: Doc, rng: random.Random, strict: bool) -> int:
    """Hints, a hover, lenses and code actions at random places; the number of hints."""
    text = doc.text
    shown = check_hints(await inlay_hint_objects(client, doc.uri), text, strict)
    lines = text.split("\n")
    row = rng.randrange(len(lines))
    await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri),
            position=types.Position(line=row, character=rng.randint(0, len(lines[row]))),
        )
    )
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=doc.uri))
    )
    for lens in lenses or []:
        assert lens.range.start.line < len(lines)
    await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri),
            range=types.Range(start=types.Position(row, 0), end=types.Position(row, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return shown


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_thousand_random_edits(client: LanguageClient) -> None:
    rng = random.Random(20261123)
    recorder = await start(client, {"convention": "ptflops", "debounceMs": 600_000})
    uri = open_text(client, SEED)
    doc = Doc(client, uri, TEXT)
    await recorder.analysed(uri)

    # 500 edits while nothing re-analyses: every hint comes from the original text's report
    # and must sit on that statement's own text, or be withheld.
    shown = 0
    for i in range(525):  # 504 random edits, 21 restores of the analysed text
        if i % 25 == 24:
            doc.replace(TEXT)  # back to the analysed text, so the next edits start afresh
        else:
            doc.random_edit(rng)
        if i % 5 == 4:
            shown += await requests(client, doc, rng, strict=True)
    assert shown > 0  # the check saw hints that followed their statements

    # 500 more while analyses of the half-typed texts start, get superseded and finish.
    client.set_configuration({"convention": "ptflops", "debounceMs": 5}, section="flopsight")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for i in range(500):
        doc.random_edit(rng)
        if i % 10 == 9:
            await requests(client, doc, rng, strict=False)
        if i % 100 == 99:
            save(client, uri)
            await asyncio.sleep(0.2)

    # The final text: the seed MLP again; its hints are the hand-computed ones.
    done = recorder.finished(uri)
    doc.replace(TEXT)
    save(client, uri)
    await recorder.analysed(uri, done)
    await recorder.until(lambda: not _running(recorder, uri))
    hints = {h.position.line: h.label for h in await inlay_hint_objects(client, uri)}
    assert hints == EXPECTED
    assert client.error is None


def _running(recorder: object, uri: str) -> bool:
    from lsp_harness import Recorder

    assert isinstance(recorder, Recorder)
    return recorder.count("flopsight/analysisStarted", uri) > recorder.count(
        "flopsight/analysisFinished", uri
    )
