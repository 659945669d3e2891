"""One line model through the real server: only ``\\n``, ``\\r\\n`` and ``\\r`` end a line (LSP and
Python agree), never ``\\f``, ``\\v``, U+0085 or U+2028, which ``str.splitlines`` also breaks at;
columns are UTF-16 code units (tabs one unit, a non-BMP character two).

Each document holds one such character above the seed MLP, and is then edited incrementally
below and beside it. If the server split lines differently from the editor, the edits would land
on other lines and its text would drift from the editor's: hints on wrong lines, a false FS101, a
hover showing the card of the line above.

The seed MLP, ptflops convention, by hand (see test_lsp_inlay_hints.py for the unedited one):
  Linear(784, 512): 784·512 + 512 = 401,920 MACs and params (59.9 % unedited)
After the edits Linear(512, 512) -> Linear(512, 500) and Linear(512, 10) -> Linear(500, 10):
  Linear(512, 500): 512·500 + 500 = 256,500 MACs and params
  ReLU(500): 500 MACs;   ReLU(512): 512 MACs
  Linear(500, 10): 500·10 + 10 = 5,010 MACs and params
  total MACs 401,920 + 512 + 256,500 + 500 + 5,010 = 664,442 (664.44 KMac)
  params 401,920 + 256,500 + 5,010 = 663,430 (663.43 k)
  shares 401,920 / 664,442 = 60.49 %, 256,500 / 664,442 = 38.60 %, 5,010 / 664,442 = 0.75 %,
  512 / 664,442 = 0.077 %, 500 / 664,442 = 0.075 %.
"""

from __future__ import annotations

import re

import pytest
import pytest_lsp
from lsp_harness import ROOT, SERVER, inlay_hint_objects, inlay_hints, open_text, save, start
from lsprotocol import types
from pytest_lsp import LanguageClient

# (name, the character, the file's line ending)
CASES = [
    ("form_feed", "\x0c", "\n"),
    ("vertical_tab", "\x0b", "\n"),
    ("next_line", "\x85", "\n"),
    ("line_separator", "\u2028", "\n"),
    ("crlf", "\u2028", "\r\n"),
    ("cr", "\x0c", "\r"),
]


def source(char: str, eol: str) -> str:
    lines = [
        '"""A model below characters that are not line breaks."""',
        "import torch",
        "from torch import nn",
        "",
        f"# here: X{char}Y and 😀 after it",
        f"PAD = 'a{char}b'",
        "\x0c",  # a page break, as PEP 8 allows
        "",
        "class NeuralNetwork(nn.Module):  # flopsight: input=(1, 28, 28)",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.flatten = nn.Flatten()",
        "        self.linear_relu_stack = nn.Sequential(  # 😀 two UTF-16 units",
        "\t\t\tnn.Linear(28 * 28, 512),",
        "            nn.ReLU(),",
        "            nn.Linear(512, 512),",
        "            nn.ReLU(),",
        "            nn.Linear(512, 10),",
        "        )",
        "",
        "    def forward(self, x):",
        "        x = self.flatten(x)",
        "        logits = self.linear_relu_stack(x)",
        "        return logits",
        "",
    ]
    return eol.join(lines)


def protocol_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def row_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(protocol_lines(text)) if needle in line)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position(text: str, needle: str, after: bool = False) -> types.Position:
    """Where ``needle`` starts (or ends) in ``text``, in LSP terms."""
    row = row_of(text, needle)
    line = protocol_lines(text)[row]
    col = line.index(needle) + (len(needle) if after else 0)
    return types.Position(line=row, character=utf16(line[:col]))


def replace(text: str, needle: str, new: str) -> types.TextDocumentContentChangePartial:
    start, end = position(text, needle), position(text, needle, after=True)
    return types.TextDocumentContentChangePartial(range=types.Range(start=start, end=end), text=new)


def insert_line(
    text: str, before: str, line: str, eol: str
) -> types.TextDocumentContentChangePartial:
    at = types.Position(line=row_of(text, before), character=0)
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=at, end=at), text=line + eol
    )


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def hover(client: LanguageClient, uri: str, pos: types.Position) -> str | None:
    result = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=pos)
    )
    if result is None:
        return None
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


def expected_hints(text: str, edited: bool) -> dict[int, str]:
    first = row_of(text, "nn.Linear(28 * 28, 512)")
    call = row_of(text, "logits = self.linear_relu_stack(x)")
    if not edited:
        return {
            row_of(text, "nn.Sequential("): "670.73 KMac · 669.71 k params · 100.0%",
            first: "401.92 KMac · 401.92 k params · 59.9%",
            first + 1: "512 Mac · 0 params · 0.1%",
            first + 2: "262.66 KMac · 262.66 k params · 39.2%",
            first + 3: "512 Mac · 0 params · 0.1%",
            first + 4: "5.13 KMac · 5.13 k params · 0.8%",
            call: "670.73 KMac → [1, 10]",
        }
    return {
        row_of(text, "nn.Sequential("): "664.44 KMac · 663.43 k params · 100.0%",
        first: "401.92 KMac · 401.92 k params · 60.5%",
        first + 1: "512 Mac · 0 params · 0.1%",
        first + 2: "256.50 KMac · 256.50 k params · 38.6%",
        first + 3: "500 Mac · 0 params · 0.1%",
        first + 4: "5.01 KMac · 5.01 k params · 0.8%",
        call: "664.44 KMac → [1, 10]",
    }


async def check_view(client: LanguageClient, uri: str, text: str, edited: bool) -> None:
    """The server's view of ``text``: hints on its lines at their UTF-16 ends, the right card."""
    assert await inlay_hints(client, uri) == expected_hints(text, edited)
    lines = protocol_lines(text)
    for hint in await inlay_hint_objects(client, uri):
        assert hint.position.character == utf16(lines[hint.position.line])
    card = await hover(client, uri, position(text, "Linear(28 * 28"))
    assert card is not None and "linear_relu_stack.0 · Linear" in card and "401.92 KMac" in card


def syntax_errors(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri, []) if d.code == "FS101"]


async def test_characters_that_do_not_end_a_line(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    docs = {}
    for name, char, eol in CASES:
        text = source(char, eol)
        docs[name] = (open_text(client, ROOT / "tests" / f"line_{name}.py", text), text, char, eol)
    for uri, text, _, _ in docs.values():
        await recorder.analysed(uri)
        assert not syntax_errors(client, uri)
        await check_view(client, uri, text, edited=False)

    for name, (uri, text, char, eol) in docs.items():
        # Edits below the character, on its own line after it, and inside the model.
        changes = [
            insert_line(text, "PAD = ", "EXTRA = 1", eol),
            replace(text, "Y and", "Z and"),
        ]
        new_text = text.replace(f"# here: X{char}Y", f"# here: X{char}Z")
        start_of_pad = new_text.index("PAD = ")
        new_text = new_text[:start_of_pad] + "EXTRA = 1" + eol + new_text[start_of_pad:]
        # One notification per edit, each relative to the text the previous one left.
        version = 2
        for change in changes:
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[change],
                )
            )
            version += 1
        text = new_text
        for needle, new in [("512, 512", "512, 500"), ("512, 10", "500, 10")]:
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[replace(text, needle, new)],
                )
            )
            text = text.replace(needle, new)
            version += 1
        docs[name] = (uri, text, char, eol)
        summaries = recorder.count("flopsight/summary", uri)
        save(client, uri)
        await recorder.wait_for("flopsight/summary", uri, after=summaries)

    for name, (uri, text, _, _) in docs.items():
        assert not syntax_errors(client, uri), name
        await check_view(client, uri, text, edited=True)


@pytest.mark.parametrize("char", ["\x0c", "\x0b", "\x85", "\u2028", "\u2029", "\x1c"])
def test_split_lines_is_the_protocol_definition(char: str) -> None:
    from flopsight.source.text import line_starts, split_lines

    text = f"a{char}b\nc\r\nd\re\n"
    assert split_lines(text) == [f"a{char}b", "c", "d", "e", ""]
    assert line_starts(text) == [0, 4, 7, 9, 11]
