"""Conventions are rule sets counted together: one forward pass charges every requested
convention, each in its own tally (modules, lines, uncounted ops, notes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import flopsight
import jsonschema
import pytest
import torch
import torchvision.models as tvm
from flopsight.counting import conventions, formulas, meta_fast, ptflops_rules
from flopsight.counting.build import build_model
from flopsight.counting.conventions.base import OpRule, RuleSet
from flopsight.counting.counter import count_model
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import Convention, FileReport
from ptflops import get_model_complexity_info
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve()
SCHEMA = json.loads(
    (HERE.parent.parent / "server" / "flopsight" / "schema" / "report.schema.json").read_text()
)


def _line_of(marker: str) -> int:
    for number, text in enumerate(HERE.read_text().splitlines(), start=1):
        if text.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(marker)


class Mixed(nn.Module):
    """A conv, a ReLU module, a Linear and a functional matmul the ptflops convention leaves out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 5)
        self.proj = nn.Parameter(torch.ones(5, 3))
        self.forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards += 1
        h = self.act(self.conv(x))  # conv-line
        y = self.fc(h.flatten(1))  # fc-line
        return y @ self.proj  # matmul-line


# Input (2, 3, 8, 8). macs: conv, every output (2 * 4 * 8 * 8) a 3 * 3 * 3 dot product; fc,
# 2 rows times 256 x 5; the matmul 2 x 5 @ 5 x 3. ReLU is free.
MACS_CONV = 2 * 4 * 8 * 8 * 27
MACS_FC = 2 * 256 * 5
MACS_MATMUL = 2 * 5 * 3
# ptflops: conv per output position (2 * 64) kernel 9 x (3 in * 4 out) plus its bias per
# output element; ReLU one per output element; Linear (256 * 5 + 5 bias) per row; the
# functional matmul is free (count_functional=False).
PT_CONV = 2 * 64 * 9 * 3 * 4 + 2 * 4 * 64
PT_RELU = 2 * 4 * 64
PT_FC = 2 * (256 * 5 + 5)


def test_one_pass_charges_both_conventions_each_in_its_own_tally() -> None:
    model = Mixed()
    report = count_model(
        model,
        (torch.randn(2, 3, 8, 8),),
        conventions=("macs", "ptflops"),
        source_file=str(HERE),
    )
    assert model.forwards == 1  # the forward ran once for both

    # The report's own fields are the main convention's (the first).
    assert report.total is not None
    assert report.total.macs == MACS_CONV + MACS_FC + MACS_MATMUL
    assert [c.convention for c in report.counts] == ["macs", "ptflops"]

    macs = report.count_in("macs")
    assert macs.macs == report.total.macs
    assert macs.ops == {"conv": MACS_CONV, "matmul": MACS_FC + MACS_MATMUL}
    assert macs.uncounted_ops == [] and macs.notes == []

    pt = report.count_in("ptflops")
    assert pt.macs == PT_CONV + PT_RELU + PT_FC
    assert pt.ops == {"conv": PT_CONV, "activation": PT_RELU, "matmul": PT_FC}
    assert {p: c.macs for p, c in pt.layers.items()} == {
        "": PT_CONV + PT_RELU + PT_FC,
        "conv": PT_CONV,
        "act": PT_RELU,
        "fc": PT_FC,
    }
    assert list(pt.layers) == [layer.path for layer in report.layers]

    conv_line, fc_line, matmul_line = (_line_of(m) for m in ("conv-line", "fc-line", "matmul-line"))
    # Lines are keyed (file, line): file None for the analysed file.
    assert {n: c.macs for (_, n), c in macs.lines.items()} == {
        conv_line: MACS_CONV,
        fc_line: MACS_FC,
        matmul_line: MACS_MATMUL,
    }
    assert {n: c.macs for (_, n), c in pt.lines.items()} == {
        conv_line: PT_CONV + PT_RELU,
        fc_line: PT_FC,
        matmul_line: 0,
    }
    # What ptflops leaves out is told in its own notes, with the line, priced by macs.
    assert len(pt.notes) == 1
    assert f"line {matmul_line})" in pt.notes[0] and f"{MACS_MATMUL} Mac" in pt.notes[0]


def test_each_convention_lists_what_it_could_not_count() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.weight

    model = nn.Sequential(nn.Embedding(10, 4), Scale(), nn.Linear(4, 2))
    report = flopsight.count(
        model, torch.zeros(1, 3, dtype=torch.long), conventions=("ptflops", "macs")
    )
    # The main one is the first named: ptflops has no rule for the weighted Embedding/Scale.
    assert [(u.op, u.count) for u in report.uncounted_ops] == [
        ("module:Embedding", 1),
        ("module:Scale", 1),
    ]
    assert report.count_in("macs").uncounted_ops == []  # lookups and products are free there
    assert report.count_in("macs").macs == 3 * 4 * 2  # 3 tokens x Linear(4, 2)
    assert report.total is not None and report.total.macs == 3 * (4 * 2 + 2)


def test_convention_picks_the_main_one_and_one_convention_adds_no_counts() -> None:
    x = torch.randn(2, 3, 8, 8)
    report = flopsight.count(Mixed(), x, convention="ptflops", conventions=("macs",))
    assert report.total is not None and report.total.macs == PT_CONV + PT_RELU + PT_FC
    assert [c.convention for c in report.counts] == ["ptflops", "macs"]

    single = flopsight.count(Mixed(), x, convention="ptflops")
    assert single.counts == []
    assert "counts" not in single.to_json()
    with pytest.raises(KeyError, match="'macs'"):
        single.count_in("macs")
    with pytest.raises(
        ValueError, match="unknown convention 'thop': use one of macs, ptflops, fvcore, deepspeed"
    ):
        flopsight.count(Mixed(), x, conventions=("macs", "thop"))


def _ptflops(model: nn.Module, size: int) -> int:
    macs, _ = get_model_complexity_info(
        model,
        (3, size, size),
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    assert macs is not None
    return int(macs)


def test_together_each_convention_matches_its_reference_on_resnet18() -> None:
    reference, _ = build_model(lambda: tvm.resnet18(weights=None))
    expected_ptflops = _ptflops(reference, 224)
    x = torch.empty(1, 3, 224, 224, device="meta")
    with FlopCounterMode(display=False) as flop_counter, torch.no_grad():
        reference.eval()(x)
    expected_macs = flop_counter.get_total_flops() // 2  # conv + addmm, FLOPs = 2 x MACs

    model, device = build_model(lambda: tvm.resnet18(weights=None))
    report = count_model(model, (x,), conventions=("macs", "ptflops"), device=device)
    assert report.count_in("macs").macs == expected_macs
    assert abs(report.count_in("ptflops").macs - expected_ptflops) <= 0.005 * expected_ptflops


# --- adding a convention is adding a rule set ------------------------------------------------


@pytest.fixture
def linear_only() -> Iterator[RuleSet]:
    """A convention that prices only addmm, by hand, and knows no other op."""

    def addmm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
        _, a, b = args[:3]
        return int(a.shape[0]) * int(a.shape[1]) * int(b.shape[1])

    rules = RuleSet(name="linear_only", op_rules={torch.ops.aten.addmm: OpRule("matmul", addmm)})
    conventions.register(rules)
    try:
        yield rules
    finally:
        del conventions.REGISTRY["linear_only"]


def test_a_new_rule_set_counts_through_the_unchanged_session(linear_only: RuleSet) -> None:
    report = count_model(Mixed(), (torch.randn(2, 3, 8, 8),), conventions=("macs", "linear_only"))
    counted = report.count_in("linear_only")
    assert counted.macs == MACS_FC
    assert counted.layers["fc"].macs == MACS_FC and counted.layers["conv"].macs == 0
    # Everything it has no rule for and does not call free is listed, never dropped.
    uncounted = {u.op for u in counted.uncounted_ops}
    assert {"aten::convolution", "aten::relu", "aten::mm"} <= uncounted
    with pytest.raises(ValueError, match="'linear_only' is already registered"):
        conventions.register(linear_only)


def test_the_convention_literal_names_the_registry() -> None:
    assert set(get_args(Convention)) == set(conventions.REGISTRY) == set(conventions.CONVENTIONS)


# --- registries refuse a second rule for the same target ------------------------------------


@torch.library.custom_op("flopsight_conv_test::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@twice.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _zero(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return 0


def test_formulas_register_refuses_a_second_formula() -> None:
    packet = torch.ops.flopsight_conv_test.twice
    formulas.register(packet, "matmul")(_zero)
    try:
        with pytest.raises(ValueError, match="flopsight_conv_test::twice"):
            formulas.register(packet, "conv")(_zero)
        assert formulas.OP_RULES[packet].family == "matmul"  # the first one stays
        with pytest.raises(ValueError, match="aten::mm"):
            formulas.register(torch.ops.aten.mm, "matmul")(_zero)  # torch's formula
    finally:
        del formulas.OP_RULES[packet]
        formulas.CLASSIFIED.clear()


def test_ptflops_register_refuses_a_second_rule() -> None:
    class Block(nn.Module):
        pass

    ptflops_rules.register([Block], "other")(lambda m, i, o: 1)
    try:
        with pytest.raises(ValueError, match="Block"):
            ptflops_rules.register([Block], "other")(lambda m, i, o: 2)
        with pytest.raises(ValueError, match="Linear"):
            ptflops_rules.register([nn.Linear], "matmul")(lambda m, i, o: 0)
    finally:
        del ptflops_rules.MODULE_RULES[Block]


def test_meta_fast_register_refuses_a_second_output() -> None:
    packet = torch.ops.flopsight_conv_test.twice
    meta_fast.register([packet])(lambda args, kwargs: None)
    try:
        with pytest.raises(ValueError, match="already registered"):
            meta_fast.register([packet])(lambda args, kwargs: None)
        with pytest.raises(ValueError, match="native_batch_norm"):
            meta_fast.register([torch.ops.aten.native_batch_norm])(lambda args, kwargs: None)
    finally:
        del meta_fast.FAST_META[packet]


def test_an_unknown_torch_formula_is_not_called_attention() -> None:
    assert formulas._family_of("_grouped_mm_someday") == "other"
    assert formulas._family_of("_flash_attention_forward") == "attention"
    assert formulas._family_of("convolution") == "conv"
    assert formulas._family_of("bmm") == "matmul"
    # torch's own registry: every formula reused has a family that says what it is.
    families = {
        p.__name__: formulas.OP_RULES[p].family
        for p in torch.utils.flop_counter.flop_registry
        if isinstance(p, torch._ops.OpOverloadPacket)
    }
    assert {n for n, f in families.items() if f == "attention"} == {
        n for n in families if "attention" in n
    }


# --- the job asks for extra conventions ----------------------------------------------------

FILE = """\
from torch import nn


class Net(nn.Module):  # flopsight: input=(2, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))
"""


def test_a_request_with_extra_conventions_reports_each_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "net.py"
    path.write_text(FILE)
    plain = AnalysisRequest(text=FILE, path=str(path))
    assert "extra_conventions" not in plain.to_json()  # plain requests keep their cache keys
    both = AnalysisRequest(text=FILE, path=str(path), extra_conventions=["ptflops"])
    assert both.cache_key() != plain.cache_key()
    assert AnalysisRequest.from_json(both.to_json()) == both

    report = analyse_file(both)
    data = report.to_json()
    jsonschema.validate(data, SCHEMA)
    assert data["schema"] == "flopsight.report/3"
    net = FileReport.from_json(data).model("Net")
    assert net.total is not None and net.total.macs == 2 * 8 * 4
    pt = net.count_in("ptflops")
    assert pt.macs == 2 * (8 * 4 + 4) + 2 * 4  # Linear with bias per row, ReLU per output
    assert pt.lines[(None, 11)].macs == pt.macs  # `return self.act(self.fc(x))`
    assert analyse_file(plain).model("Net").counts == []


def test_the_worker_pool_passes_extra_conventions_through(tmp_path: Path) -> None:
    from flopsight.worker import WorkerPool

    path = tmp_path / "net.py"
    path.write_text(FILE)
    with WorkerPool(max_children=1) as pool:
        assert pool.wait_ready()
        report = pool.analyse_blocking(
            AnalysisRequest(text=FILE, path=str(path), extra_conventions=["ptflops"])
        )
    net = report.model("Net")
    assert net.total is not None and net.total.macs == 2 * 8 * 4
    assert net.count_in("ptflops").macs == 2 * (8 * 4 + 4) + 2 * 4
