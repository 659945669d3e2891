"""Training mode in the editor, end to end through the real server: the setting
``flopsight.mode`` and the pragma's ``mode="train"``; hints read fwd + bwd, the code lens
``train step ...``, hovers the split and the FLOPs per token against N; FS206 at the model.

Seed MLP at batch 1, by hand (see test_cli_training.py): the Linears' forwards are 401,408,
262,144 and 5,120 MACs and their backwards 401,408 (weight gradient only: the input needs
none), 524,288 and 10,240; forward 668,672, backward 935,936, step 1,604,608 MACs.
"""

from __future__ import annotations

import pytest_lsp
from lsp_harness import EXAMPLES, ROOT, SERVER, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()
DATA = ROOT / "tests" / "data" / "training"


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def hover(client: LanguageClient, uri: str, line: int, col: int) -> str:
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def lens_titles(client: LanguageClient, uri: str) -> dict[int, str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return {lens.range.start.line: lens.command.title for lens in lenses or [] if lens.command}


async def test_training_setting_hints_lens_and_hover(client: LanguageClient) -> None:
    recorder = await start(client, {"mode": "training"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)

    hints = await inlay_hints(client, uri)
    assert hints[line_of(TEXT, "nn.Linear(28 * 28, 512)")].startswith("401.41 + 401.41 KMac")
    assert hints[line_of(TEXT, "nn.Linear(512, 512)")].startswith("262.14 + 524.29 KMac")
    assert hints[line_of(TEXT, "nn.Linear(512, 10)")].startswith("5.12 + 10.24 KMac")

    lenses = await lens_titles(client, uri)
    # 1,604,608 MACs = 1.60 MMac; the split in the total's unit: 0.67 + 0.94.
    assert lenses[line_of(TEXT, "class NeuralNetwork")] == (
        "train step 1.60 MMac (fwd 0.67 · bwd 0.94) · 669.71 k params · (1, 28, 28)"
    )

    line = line_of(TEXT, "class NeuralNetwork")
    card = await hover(client, uri, line, TEXT.splitlines()[line].index("NeuralNetwork"))
    assert "**1.60 MMac**" in card
    assert "train step: fwd 668.67 KMac · bwd 935.94 KMac" in card
    assert "loss `the sum of the floating output (1 tensor)`" in card

    line = line_of(TEXT, "nn.Linear(512, 512)")
    card = await hover(client, uri, line, TEXT.splitlines()[line].index("nn.Linear"))
    assert "train step: fwd 262.14 KMac · bwd 524.29 KMac" in card


async def test_gpt_pragma_hover_per_token_and_layer_split(client: LanguageClient) -> None:
    path = DATA / "gpt.py"
    text = path.read_text()
    recorder = await start(client)  # inference by default: the pragma asks for training
    uri = open_text(client, path)
    await recorder.analysed(uri)

    L, d, V, T = 12, 768, 50304, 1024
    per_layer = (
        2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    )
    params = V * d + T * d + L * per_layer + 2 * d  # the head is tied to wte
    forward = T * (L * 12 * d * d + d * V) + L * 2 * T * T * d
    ratio = 2 * 3 * forward / T / params
    line = line_of(text, "class GPT")
    card = await hover(client, uri, line, text.splitlines()[line].index("GPT"))
    assert f"training FLOPs per token: **{ratio:.1f} × N**" in card
    assert "1,024 tokens" in card
    assert "loss `output[1] (a 0-d tensor)`" in card

    # `self.c_attn = nn.Linear(...)` builds one layer per block: 1024 · 768 · 2304 MACs each
    # forward (1.81 GMac), twice that backward (3.62 GMac).
    line = line_of(text, "self.c_attn = nn.Linear(n_embd, 3 * n_embd)")
    card = await hover(client, uri, line, text.splitlines()[line].index("self.c_attn") + 6)
    assert "train step: fwd 1.81 GMac · bwd 3.62 GMac" in card

    # The lens: every matmul's backward is twice its forward, so the step is 3 x forward.
    lenses = await lens_titles(client, uri)
    g = 1e9
    assert lenses[line_of(text, "class GPT")].startswith(
        f"train step {3 * forward / g:.2f} GMac (fwd {forward / g:.2f} · bwd {2 * forward / g:.2f})"
    )


async def test_fs206_at_the_model_line(client: LanguageClient) -> None:
    path = DATA / "mlp.py"
    text = path.read_text()
    recorder = await start(client)
    uri = open_text(client, path)
    await recorder.analysed(uri)
    await recorder.until(lambda: any(d.code == "FS206" for d in client.diagnostics.get(uri, [])))
    await recorder.until(
        lambda: len([d for d in client.diagnostics.get(uri, []) if d.code == "FS206"]) == 2
    )
    found = {d.range.start.line: d for d in client.diagnostics[uri] if d.code == "FS206"}
    argmax, no_grad = found[line_of(text, "class Argmax")], found[line_of(text, "class NoGrad")]
    assert argmax.severity == types.DiagnosticSeverity.Warning
    assert "Argmax: no backward: the output has no floating tensor" in argmax.message
    assert "forward ran with gradients off" in no_grad.message
    assert no_grad.message.endswith("(the forward is counted)")
    # The forward's hints stay: Linear(784, 10) is 7,840 MACs.
    hints = await inlay_hints(client, uri)
    assert hints[line_of(text, "self.fc = nn.Linear(784, 10)")].startswith("7.84 KMac + 0 Mac")
