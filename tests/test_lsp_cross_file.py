"""Hints, hovers and lenses in every open workspace file a model runs through (issue 17),
driven through the real server as an editor would.

tests/data/crossfile (hand counts, see tests/test_cross_file.py): ``model.py``'s GPT runs three
Blocks of ``layers.py`` at T=16, d=32; ``wide.py``'s Wide runs one Block at T=8, d=64. The
workspace root is the repository, so the hover names ``tests/data/crossfile/model.py:5``.
"""

from __future__ import annotations

import pytest_lsp
from flopsight.report.units import format_macs, format_params
from lsp_harness import (
    NOTEBOOK_CAPABILITIES,
    ROOT,
    SERVER,
    inlay_hints,
    line_of,
    open_notebook,
    open_text,
    replace_all,
    start,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

FOLDER = ROOT / "tests" / "data" / "crossfile"
LAYERS, MODEL, WIDE = FOLDER / "layers.py", FOLDER / "model.py", FOLDER / "wide.py"
LAYERS_TEXT = LAYERS.read_text()
REL = "tests/data/crossfile"
# Where the hover says the models are: their class lines (1-based).
GPT_AT = f"{REL}/model.py:{line_of(MODEL.read_text(), 'class GPT') + 1}"
WIDE_AT = f"{REL}/wide.py:{line_of(WIDE.read_text(), 'class Wide') + 1}"


def gpt_counts(t: int = 16, d: int = 32, n: int = 3, mlp_width: int = 4) -> dict[str, int]:
    return {
        "qkv": t * d * 3 * d,
        "scores": t * t * d,
        "out": t * d * d,
        "mlp": 2 * t * d * mlp_width * d,
        "head": t * d * 100,
        "n": n,
    }


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def hover(client: LanguageClient, uri: str, line: int) -> str | None:
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=8),
        )
    )
    if result is None:
        return None
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def lens_titles(client: LanguageClient, uri: str) -> dict[int, str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return {lens.range.start.line: lens.command.title for lens in lenses or [] if lens.command}


async def test_another_files_lines_show_the_model_that_runs_them(client: LanguageClient) -> None:
    recorder = await start(client, {"compare": False})
    layers = open_text(client, LAYERS)
    await recorder.analysed(layers)
    # Alone, layers.py's classes are models without an input shape (FS107).
    assert [d for d in client.diagnostics.get(layers, []) if d.code == "FS107"]
    model = open_text(client, MODEL)
    await recorder.analysed(model)
    c = gpt_counts()
    n = c["n"]

    hints = await inlay_hints(client, layers)
    # A construction line: the three qkv Linears' MACs, ×3.
    qkv = hints[line_of(LAYERS_TEXT, "self.qkv = nn.Linear")]
    assert qkv.startswith(format_macs(n * c["qkv"])) and qkv.endswith("×3"), qkv
    # A forward line: the three runs of the scores' matmul and its output shape.
    scores = hints[line_of(LAYERS_TEXT, "scores = q @")]
    assert scores.startswith(f"{format_macs(n * c['scores'])} → [1, 16, 16]"), scores
    assert hints[line_of(LAYERS_TEXT, "return self.proj(")].startswith(format_macs(n * c["mlp"]))
    # Nothing on lines that do no work, and nothing from layers.py's own (absent) models.
    assert line_of(LAYERS_TEXT, "import torch") not in hints

    card = await hover(client, layers, line_of(LAYERS_TEXT, "scores = q @"))
    assert card is not None
    assert f"in GPT, {GPT_AT} · ×3" in card
    assert format_macs(n * c["scores"]) in card

    lenses = await lens_titles(client, layers)
    attention = lenses[line_of(LAYERS_TEXT, "class Attention")]
    per_block = c["qkv"] + 2 * c["scores"] + c["out"]
    assert attention.startswith(f"in GPT: {format_macs(n * per_block)} ×3"), attention
    assert GPT_AT in attention

    # layers.py's classes are GPT's building blocks now: no FS107 ("no input shape") on them.
    await recorder.until(
        lambda: not [d for d in client.diagnostics.get(layers, []) if d.code == "FS107"]
    )

    # The model's own file still shows its own lines only: the head, on model.py's line.
    model_text = MODEL.read_text()
    own = await inlay_hints(client, model)
    assert own[line_of(model_text, "return self.head(x)")].startswith(format_macs(c["head"]))


async def test_two_models_one_file(client: LanguageClient) -> None:
    recorder = await start(client, {"compare": False})
    layers = open_text(client, LAYERS)
    model = open_text(client, MODEL)
    await recorder.analysed(model)
    wide = open_text(client, WIDE)
    await recorder.analysed(wide)
    gpt, wider = gpt_counts(), gpt_counts(t=8, d=64, n=1)

    row = line_of(LAYERS_TEXT, "scores = q @")
    card = await hover(client, layers, row)
    assert card is not None
    # The hover lists each model that runs the line.
    assert f"in GPT, {GPT_AT} · ×3" in card
    assert f"in Wide, {WIDE_AT}" in card
    assert format_macs(3 * gpt["scores"]) in card and format_macs(wider["scores"]) in card

    # The hints follow the model last edited: Wide after an edit of wide.py...
    wide_text = WIDE.read_text()
    done = recorder.finished(wide)
    replace_all(client, wide, wide_text + "\n# edited\n", version=2)
    await recorder.analysed(wide, done)
    hints = await inlay_hints(client, layers)
    assert hints[row].startswith(format_macs(wider["scores"])), hints[row]
    # ... and GPT again after an edit of model.py.
    done = recorder.finished(model)
    replace_all(client, model, MODEL.read_text() + "\n# edited\n", version=2)
    await recorder.analysed(model, done)
    hints = await inlay_hints(client, layers)
    assert hints[row].startswith(format_macs(3 * gpt["scores"])), hints[row]
    # Looking at wide.py (its editor became active: the VS Code extension says so) is enough.
    refreshes = recorder.count("inlayHintRefresh")
    client.protocol.notify("flopsight/activeDocument", {"uri": wide})
    await recorder.until(lambda: recorder.count("inlayHintRefresh") > refreshes)
    hints = await inlay_hints(client, layers)
    assert hints[row].startswith(format_macs(wider["scores"])), hints[row]


async def test_an_edit_of_the_imported_file_reanalyses_the_model(client: LanguageClient) -> None:
    recorder = await start(client, {"compare": False})
    layers = open_text(client, LAYERS)
    model = open_text(client, MODEL)
    await recorder.analysed(model)
    before = gpt_counts()
    lenses = await lens_titles(client, model)
    total = 3 * (before["qkv"] + 2 * before["scores"] + before["out"] + before["mlp"])
    total += before["head"]
    assert lenses[line_of(MODEL.read_text(), "class GPT")].startswith(format_macs(total))

    # Widen the MLP in the buffer only (never saved): model.py is analysed again with it.
    wider = LAYERS_TEXT.replace("4 * d", "8 * d")
    done = recorder.finished(model)
    replace_all(client, layers, wider, version=2)
    await recorder.analysed(model, done)
    after = gpt_counts(mlp_width=8)
    total_after = total + 3 * (after["mlp"] - before["mlp"])
    lenses = await lens_titles(client, model)
    assert lenses[line_of(MODEL.read_text(), "class GPT")].startswith(format_macs(total_after))
    hints = await inlay_hints(client, layers)
    assert hints[line_of(wider, "return self.proj(")].startswith(format_macs(3 * after["mlp"]))
    assert LAYERS.read_text() == LAYERS_TEXT  # nothing was written to disk

    # While an edit of layers.py is not yet counted, its lines show nothing rather than
    # numbers of another text: insert a line at the top, and ask at once. What comes back is
    # nothing, or (the round just in) the new count's hints, never the old ones one line up.
    shifted = "# a new first line\n" + wider
    done = recorder.finished(model)
    replace_all(client, layers, shifted, version=3)
    early = await inlay_hints(client, layers)
    await recorder.analysed(model, done)
    hints = await inlay_hints(client, layers)
    assert hints[line_of(shifted, "return self.proj(")].startswith(format_macs(3 * after["mlp"]))
    assert early in ({}, hints), early


async def test_the_readme_lens_of_examples_gpt(client: LanguageClient) -> None:
    """README's example: examples/gpt/layers.py's lens above CausalSelfAttention. By hand, per
    block (T = 64 tokens, d = 64): qkv 64·64·192 = 786,432, attention 2·64·64·64 = 524,288
    (scores and mixing, 4 heads of 16), proj 64·64·64 = 262,144 MACs; params 12,480 + 4,160."""
    recorder = await start(client, {"compare": False})
    gpt = ROOT / "examples" / "gpt"
    layers_text = (gpt / "layers.py").read_text()
    layers = open_text(client, gpt / "layers.py")
    model = open_text(client, gpt / "model.py")
    await recorder.analysed(model)
    per_block = 786_432 + 524_288 + 262_144
    total = 8_388_608  # 2 blocks of 1,572,864 + 2,097,152 (MLP), the head 64·64·256
    assert 2 * (per_block + 2_097_152) + 64 * 64 * 256 == total
    share = f"{100 * 2 * per_block / total:.1f} %"
    line = line_of((gpt / "model.py").read_text(), "class GPT") + 1
    expected = (
        f"in GPT: {format_macs(2 * per_block)} ×2 · {share} · "
        f"{format_params(2 * (12_480 + 4_160))} params · examples/gpt/model.py:{line}"
    )
    lenses = await lens_titles(client, layers)
    assert lenses[line_of(layers_text, "class CausalSelfAttention")] == expected
    readme = (ROOT / "README.md").read_text()
    assert expected.replace("examples/gpt/", "gpt/") in readme


async def test_a_notebooks_model_shows_in_the_file_it_imports(client: LanguageClient) -> None:
    """A notebook's model that imports layers.py: layers.py's hover names the notebook's cell."""
    recorder = await start(client, {"compare": False}, capabilities=NOTEBOOK_CAPABILITIES)
    layers = open_text(client, LAYERS)
    texts = [
        "from layers import Block\nfrom torch import nn\n",
        "class Small(nn.Module):  # flopsight: input=(1, 16, 32)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.block = Block(32)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.block(x)\n",
    ]
    # small.ipynb is never on disk: the editor's cells are the notebook.
    uri, _cells = open_notebook(client, FOLDER / "small.ipynb", [("code", t) for t in texts])
    await recorder.analysed(uri)
    card = await hover(client, layers, line_of(LAYERS_TEXT, "scores = q @"))
    assert card is not None
    # One block at T = 16, d = 32: the scores are 16·16·32 MACs; the class is cell 2's line 1.
    assert "in Small, small.ipynb (cell 2, line 1)" in card, card
    assert format_macs(16 * 16 * 32) in card
