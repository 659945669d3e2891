"""The seed article's two files, read by flopsight.source."""

from __future__ import annotations

from pathlib import Path

from flopsight.source import analyse_source, resolve_inputs

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_seed_mlp_class_with_pragma() -> None:
    text = (EXAMPLES / "seed_mlp.py").read_text()
    analysis = analyse_source(text, "examples/seed_mlp.py")
    assert analysis.syntax_error is None
    assert [m.name for m in analysis.models] == ["NeuralNetwork"]
    mlp = analysis.models[0]
    assert mlp.kind == "class"
    assert mlp.input_source == "pragma"
    assert mlp.forward_params == ["x"]
    assert mlp.bases == ["nn.Module"]
    class_line = text.splitlines().index(
        "class NeuralNetwork(nn.Module):  # flopsight: input=(1, 28, 28)"
    )
    assert mlp.line == class_line + 1
    assert mlp.name_span.col == len("class ")
    [x] = resolve_inputs(mlp, {"batch": 1})
    assert (x.name, x.shape, x.dtype) == ("x", [1, 28, 28], "float32")
    assert analysis.diagnostics == []
    assert all(s.executes for s in analysis.statements)


def test_seed_densenet_instance_and_top_level_calls() -> None:
    text = (EXAMPLES / "seed_densenet.py").read_text()
    lines = text.splitlines()
    analysis = analyse_source(text, "examples/seed_densenet.py")
    [net] = analysis.models
    assert (net.name, net.kind, net.expression) == ("net", "instance", "models.densenet161()")
    [x] = resolve_inputs(net, {})
    assert x.shape == [1, 3, 224, 224]
    runs = {s.line: s for s in analysis.statements}
    net_line = next(i + 1 for i, t in enumerate(lines) if t.startswith("net = "))
    assert net.line == net_line
    assert not runs[net_line].executes
    assert runs[net_line].reason == "model instance built by flopsight"
    ptflops_call = next(i + 1 for i, t in enumerate(lines) if t.startswith("macs, params ="))
    assert runs[ptflops_call].executes
    assert runs[ptflops_call].end_line == ptflops_call + 2
    for i, t in enumerate(lines):
        if t.startswith("print("):
            assert not runs[i + 1].executes
            assert runs[i + 1].reason == "expression statement"
        if t.startswith(("import", "from")):
            assert runs[i + 1].executes
