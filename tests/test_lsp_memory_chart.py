"""The report page's memory chart (issue 15), end to end through the real server:
``flopsight.server.showReport`` with ``{"format": "view"}`` sends the live bytes over the
training step as geometry (0..1), the step's phase spans in order and the peak's labels.

Seed MLP (669,706 params, input (1, 28, 28) float32), AdamW in fp32, by hand (as in
test_lsp_memory.py): the step peaks in ``optimizer.step()`` holding the weights (4 bytes a
parameter), their gradients (4), AdamW's two moments (8) and foreach AdamW's square root of every
second moment (4), plus the input saved for backward (784 × 4 bytes): 13,397,256 bytes.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
PARAMS = 669_706
PEAK = 20 * PARAMS + 784 * 4


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def view_of(client: LanguageClient, settings: dict[str, Any]) -> Any:
    recorder = await start(client, settings)
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    view = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flopsight.server.showReport", arguments=[uri, {"format": "view"}]
        )
    )
    [model] = view["models"]
    return model


async def test_the_chart_of_a_training_step(client: LanguageClient) -> None:
    model = await view_of(client, {"train": {"memory": True, "optimizer": "adamw"}})
    chart = model["memory"]
    assert chart["title"] == "Memory over the step"
    mib = f"{PEAK / 2**20:.1f} MiB"
    assert mib == "12.8 MiB"
    # The peak is in optimizer.step(), outside every module: no layer path in its label.
    assert chart["peak"]["label"] == f"peak {mib} (optimizer)"
    assert chart["max_label"] == mib
    # At the peak, by hand: weights, gradients and foreach's scratch 4 bytes a parameter each,
    # the two moments 8, the saved input 3,136 bytes.
    for part in (
        f"params {PARAMS * 4 / 2**20:.2f} MiB",
        f"grads {PARAMS * 4 / 2**20:.2f} MiB",
        f"optimizer {PARAMS * 8 / 2**20:.2f} MiB",
        f"activations {3136 / 1024:.2f} KiB",
    ):
        assert part in chart["summary"], (part, chart["summary"])
    points = chart["points"]
    assert 2 <= len(points) <= 400
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in points)
    xs = [x for x, _ in points]
    assert xs == sorted(xs) and xs[0] == 0.0 and xs[-1] == 1.0
    peak = chart["peak"]
    assert points[peak["index"]] == [peak["x"], peak["y"]] and peak["y"] == 1.0
    # The phases as training_step spells them, each span starting where the last one ends.
    phases = chart["phases"]
    assert [p["name"] for p in phases] == ["setup", "forward", "loss", "backward", "optimizer"]
    assert phases[0]["from"] == 0.0 and phases[-1]["to"] == 1.0
    assert all(a["to"] == b["from"] for a, b in pairwise(phases))
    assert peak["x"] >= phases[-1]["from"], "the peak lies in the optimizer's span"


async def test_no_chart_without_memory_tracking(client: LanguageClient) -> None:
    model = await view_of(client, {})
    assert model["status"] == "ok"
    assert model["memory"] is None
