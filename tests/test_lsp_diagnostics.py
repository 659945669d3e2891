"""Diagnostics end to end: the real server and worker; each at the right line with its code."""

from __future__ import annotations

import pytest_lsp
from lsp_harness import DATA, EXAMPLES, SERVER, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


def by_code(client: LanguageClient, uri: str, code: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri, []) if d.code == code]


async def test_shape_mismatch_on_the_line_that_raised(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "shape_mismatch.py"
    uri = open_text(client, path)
    await recorder.analysed(uri)
    [diag] = by_code(client, uri, "FS202")
    # fc1 gives 64 features, fc2 wants 128: the matmul of `return self.fc2(x)` raises.
    assert diag.range.start.line == line_of(path.read_text(), "return self.fc2(x)")
    assert diag.severity == types.DiagnosticSeverity.Error
    assert diag.source == "flopsight"
    assert "RuntimeError" in diag.message
    # In the CPU's wording (meta says "a and b must have same reduction dim, [1, 64] X [128, 10]").
    assert "mat1 and mat2 shapes cannot be multiplied (1x64 and 128x10)" in diag.message


async def test_pragma_errors_at_their_span(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "pragma_errors.py"
    text = path.read_text()
    uri = open_text(client, path)
    await recorder.analysed(uri)
    [typo] = by_code(client, uri, "FS103")
    row = line_of(text, "inptu=")
    col = text.splitlines()[row].index("inptu")
    assert (typo.range.start.line, typo.range.start.character) == (row, col)
    assert (typo.range.end.line, typo.range.end.character) == (row, col + len("inptu"))
    assert "did you mean `input`" in typo.message
    [malformed] = by_code(client, uri, "FS102")
    assert malformed.range.start.line == line_of(text, "class Malformed")
    assert malformed.severity == types.DiagnosticSeverity.Error


async def test_unresolved_symbolic_dimension(client: LanguageClient) -> None:
    recorder = await start(client, {"dims": {"batch": 1}})
    path = DATA / "symbolic_dims.py"
    uri = open_text(client, path)
    await recorder.analysed(uri)
    [diag] = by_code(client, uri, "FS105")
    assert diag.range.start.line == line_of(path.read_text(), "class Seq")
    assert "'seq'" in diag.message
    # With a value for it, the model runs: the diagnostic goes.
    client.set_configuration(
        {"debounceMs": 20, "dims": {"batch": 1, "seq": 7}}, section="flopsight"
    )
    done = recorder.finished(uri)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await recorder.analysed(uri, done)
    assert by_code(client, uri, "FS105") == []


async def test_failed_top_level_statement_is_a_warning(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "top_level_failure.py"
    uri = open_text(client, path)
    await recorder.analysed(uri)
    [diag] = by_code(client, uri, "FS203")
    assert diag.range.start.line == line_of(path.read_text(), "SIZE = helper")
    assert diag.severity == types.DiagnosticSeverity.Warning
    assert "helper_that_does_not_exist" in diag.message


async def test_unannotated_model_gets_a_hint(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "unannotated.py"
    uri = open_text(client, path)
    await recorder.analysed(uri)
    [diag] = by_code(client, uri, "FS107")
    assert diag.range.start.line == line_of(path.read_text(), "class Classifier")


async def test_execution_off_one_info_per_file(client: LanguageClient) -> None:
    recorder = await start(client, {"execute": False})
    uris = [open_text(client, EXAMPLES / "seed_mlp.py"), open_text(client, DATA / "hang.py")]
    for uri in uris:
        await recorder.analysed(uri)
        diags = client.diagnostics[uri]
        assert [d.code for d in diags] == ["FS401"]
        assert diags[0].severity == types.DiagnosticSeverity.Information
    # Nothing ran: no analysis reached the worker, so no hints, no lenses.
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uris[0]),
            range=types.Range(start=types.Position(0, 0), end=types.Position(100, 0)),
        )
    )
    assert not hints


def test_codes_of_limits_and_uncounted_ops() -> None:
    """The mapping from a report's error kinds to codes, on hand-made reports (no server)."""
    from flopsight.lsp.diagnostics import Lines, model_diagnostics
    from flopsight.report.model import ModelError, ModelReport, Totals, UncountedOp

    lines = Lines("class A:\n    pass\n")
    for kind, code in [
        ("timeout", "FS301"),
        ("memory", "FS302"),
        ("crash", "FS303"),
        ("unavailable", "FS304"),
        ("build", "FS201"),
        ("forward", "FS202"),
        ("not_module", "FS205"),
        ("not_found", "FS205"),
    ]:
        report = ModelReport(
            name="A", kind="class", line=1, status="error", error=ModelError("m", "E", kind)
        )
        [diag] = model_diagnostics(report, lines)
        assert (diag.code, diag.range.start.line, diag.source) == (code, 0, "flopsight")
    ok = ModelReport(
        name="A",
        kind="class",
        line=1,
        total=Totals(macs=1),
        uncounted_ops=[UncountedOp("aten::my_op", 3)],
    )
    [diag] = model_diagnostics(ok, lines)
    assert diag.code == "FS204" and "aten::my_op ×3" in diag.message
    assert diag.severity == types.DiagnosticSeverity.Information


async def test_no_missing_shape_hint_for_building_blocks(client: LanguageClient) -> None:
    recorder = await start(client)
    text = (
        "from torch import nn\n"
        "\n"
        "\n"
        "class Block(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 8)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
        "\n"
        "\n"
        "class Net(nn.Module):  # flopsight: input=(1, 8)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.blocks = nn.Sequential(Block(), Block())\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.blocks(x)\n"
        "\n"
        "\n"
        "class Unused(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n"
    )
    uri = open_text(client, DATA / "blocks.py", text)
    await recorder.analysed(uri)
    # Block is counted inside Net: no "no input shape" hint; Unused is not: it keeps its hint.
    assert [d.range.start.line for d in by_code(client, uri, "FS107")] == [21]


NOT_MODULES = (
    "from torch import nn\n"
    "\n"
    "x = 3  # flopsight: input=(1, 3)\n"
    "\n"
    "\n"
    "class Gone(nn.Module, Missing):  # flopsight: input=(1, 3)\n"
    "    def forward(self, x):\n"
    "        return x\n"
)


async def test_a_name_that_is_no_module_or_is_not_there_is_fs205(client: LanguageClient) -> None:
    # `x` is an int; `Gone`'s class statement fails (Missing is undefined), so no Gone exists.
    recorder = await start(client)
    uri = open_text(client, DATA / "not_modules.py", NOT_MODULES)
    await recorder.analysed(uri)
    diags = by_code(client, uri, "FS205")
    assert sorted(d.range.start.line for d in diags) == [
        line_of(NOT_MODULES, "x = 3"),
        line_of(NOT_MODULES, "class Gone"),
    ]
    x, gone = sorted(diags, key=lambda d: d.range.start.line)
    assert x.message == "x: NotAModuleError: x is a int, not an nn.Module"
    assert gone.message.startswith("Gone: ModelNotFoundError: class Gone was not defined")
    assert all(d.severity == types.DiagnosticSeverity.Error for d in diags)
    # The failed class statement itself is the FS203 warning on the same line.
    [warned] = by_code(client, uri, "FS203")
    assert warned.range.start.line == line_of(NOT_MODULES, "class Gone")
