"""Peak memory in the editor (issue 15), end to end through the real server: with
``flopsight.gpu`` set, the code lens and the model's hover say the training step's peak and
whether it fits.

Seed MLP (669,706 params, input (1, 28, 28) float32), AdamW in fp32, by hand: the step peaks in
``optimizer.step()``, holding the weights (4 bytes a parameter), their gradients (4), AdamW's
two moments (8) and foreach AdamW's square root of every second moment at once (4): 20 bytes a
parameter, plus the input's 784 × 4 bytes: 13,397,256 bytes = 12.8 MiB.
"""

from __future__ import annotations

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()
PEAK = 20 * 669_706 + 784 * 4


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_lens_and_hover_say_the_peak_and_the_fit(client: LanguageClient) -> None:
    assert f"{PEAK / 1024**2:.1f}" == "12.8"
    recorder = await start(client, {"gpu": "rtx4090", "train": {"optimizer": "adamw"}})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    [lens] = lenses
    assert lens.command is not None
    expected = "peak 12.8 MiB training (AdamW, fp32, batch 1) · fits RTX 4090"
    assert lens.command.title.endswith(" · " + expected), lens.command.title
    row = line_of(TEXT, "class NeuralNetwork")
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(
                line=row, character=TEXT.splitlines()[row].index("NeuralNetwork") + 2
            ),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    assert expected in result.contents.value


async def test_without_the_settings_nothing_is_tracked(client: LanguageClient) -> None:
    recorder = await start(client, {})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None and lenses[0].command is not None
    assert "peak" not in lenses[0].command.title
