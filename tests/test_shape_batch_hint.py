"""The shape users get wrong: the seed article's MLP at ``input=(28, 28)`` (the shape ptflops takes,
without the batch) says in FS202 that the batch dimension may be missing, in the CPU's wording
of the error, and a quick fix rewrites the pragma; then the model counts. Also the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
import torch
from flopsight.cli import main
from lsp_harness import EXAMPLES, SERVER, apply_edits, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient
from torch import nn

MLP_NO_BATCH = (EXAMPLES / "seed_mlp.py").read_text().replace("input=(1, 28, 28)", "input=(28, 28)")
HINT = (
    "the input may lack its batch dimension: flopsight takes the whole shape; "
    "with (1, 28, 28) it runs"
)


def cpu_message(run: object) -> str:
    """What torch itself says on the CPU (the wording users know), first line."""
    assert callable(run)
    with pytest.raises(Exception) as caught:
        run()
    return str(caught.value).splitlines()[0]


# What the CPU says for nn.Linear(784, 512) on a (28, 28) input: computed here, not copied.
LINEAR_CPU = cpu_message(lambda: nn.Linear(784, 512)(torch.zeros(28, 28)))


@pytest.fixture
def mlp_file(tmp_path: Path) -> Path:
    path = tmp_path / "mlp_no_batch.py"
    path.write_text(MLP_NO_BATCH)
    return path


def test_cli_says_the_batch_is_missing(
    mlp_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    assert LINEAR_CPU == "mat1 and mat2 shapes cannot be multiplied (28x28 and 784x512)"
    assert main(["report", str(mlp_file)]) == 2
    err = capsys.readouterr().err
    assert f"NeuralNetwork: RuntimeError: {LINEAR_CPU}; {HINT}" in err
    assert "reduction dim" not in err  # the meta wording is gone


def test_json_carries_the_suggested_input(
    mlp_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    main(["report", str(mlp_file), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    error = report["models"][0]["error"]
    assert error["suggested_input"] == [[1, 28, 28]]
    assert error["message"].endswith(HINT)


def test_conv_channels_in_cpu_wording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On meta conv2d only says "Invalid channel dimensions"; the replay on the CPU says more.
    A wrong channel count is no missing batch: no hint."""
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    path = tmp_path / "conv.py"
    path.write_text(
        "from torch import nn\n\n\n"
        "class Net(nn.Module):  # flopsight: input=(1, 4, 32, 32)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3)\n\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n"
    )
    expected = cpu_message(lambda: nn.Conv2d(3, 8, 3)(torch.zeros(1, 4, 32, 32)))
    meta = cpu_message(
        lambda: nn.Conv2d(3, 8, 3, device="meta")(torch.empty(1, 4, 32, 32, device="meta"))
    )
    assert meta != expected  # the two wordings differ: there is something to map
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"Net: RuntimeError: {expected} (while running forward" in err
    assert "batch dimension" not in err


def test_big_linear_is_rewritten_without_replay() -> None:
    """Too big to replay on real tensors: the known meta wording is rewritten from its text."""
    from flopsight.counting import shape_errors

    big = nn.Linear(8192, 8192, device="meta")
    x = torch.empty(4096, 4096, device="meta")
    with pytest.raises(RuntimeError) as caught:
        big(x)
    assert shape_errors.REPLAY_LIMIT < 8192 * 8192
    # The CPU's wording for the same shapes, by the form a small CPU matmul shows.
    small = cpu_message(lambda: torch.zeros(2, 3) @ torch.zeros(4, 5))
    assert small == "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"
    assert shape_errors.cpu_wording(caught.value) == (
        "mat1 and mat2 shapes cannot be multiplied (4096x4096 and 8192x8192)"
    )


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_fs202_and_the_quick_fix(client: LanguageClient, mlp_file: Path) -> None:
    recorder = await start(client)
    uri = open_text(client, mlp_file)
    await recorder.analysed(uri)
    [diag] = [d for d in client.diagnostics[uri] if d.code == "FS202"]
    assert diag.message == (
        f"NeuralNetwork: RuntimeError: {LINEAR_CPU}; {HINT} (in forward of NeuralNetwork)"
    )
    assert diag.range.start.line == line_of(MLP_NO_BATCH, "logits = self.linear_relu_stack(x)")

    class_row = line_of(MLP_NO_BATCH, "class NeuralNetwork")
    for row in (class_row, diag.range.start.line):  # offered on the pragma's line and the error's
        result = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(row, 0), end=types.Position(row, 0)),
                context=types.CodeActionContext(diagnostics=[diag]),
            )
        )
        [action] = [
            a for a in result or [] if isinstance(a, types.CodeAction) and "batch" in a.title
        ]
        assert action.title == "flopsight: add the batch dimension: input=(1, 28, 28)"
        assert action.kind == types.CodeActionKind.QuickFix
    assert action.edit is not None and action.edit.changes is not None
    edits = [e for e in action.edit.changes[uri] if isinstance(e, types.TextEdit)]
    new_text = apply_edits(MLP_NO_BATCH, edits)
    assert new_text.splitlines()[class_row] == (
        "class NeuralNetwork(nn.Module):  # flopsight: input=(1, 28, 28)"
    )

    done = recorder.finished(uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
        )
    )
    await recorder.analysed(uri, done)
    await recorder.until(lambda: not [d for d in client.diagnostics[uri] if d.code == "FS202"])
    hints = await inlay_hints(client, uri)
    # macs convention, by hand: 784·512 + 512·512 + 512·10 = 401,408 + 262,144 + 5,120
    # = 668,672 MACs for the whole model, charged to the line that calls the stack.
    assert hints[line_of(new_text, "logits = self.linear_relu_stack(x)")].startswith("668.67 KMac")
