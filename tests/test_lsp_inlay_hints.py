"""Inlay hints end to end: the real server and worker on the seed article's MLP.

The seed MLP at input (1, 28, 28), ptflops convention (bias, activations counted per layer),
by hand:
  Linear(784, 512): 784·512 MACs + 512 for the bias = 401,920 MACs; 784·512 + 512 = 401,920 params
  ReLU(512):        512 MACs, no params
  Linear(512, 512): 512·512 + 512 = 262,656 MACs; 262,656 params
  ReLU(512):        512 MACs
  Linear(512, 10):  512·10 + 10 = 5,130 MACs; 5,130 params
  total:            401,920 + 512 + 262,656 + 512 + 5,130 = 670,730 MACs (670.73 KMac),
                    401,920 + 262,656 + 5,130 = 669,706 params (669.71 k)
Shares of the total: 401,920 / 670,730 = 59.92 %, 262,656 / 670,730 = 39.16 %,
5,130 / 670,730 = 0.76 %, 512 / 670,730 = 0.08 %.
"""

from __future__ import annotations

import pytest
import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, inlay_hint_objects, inlay_hints, line_of, open_text, start
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_seed_mlp_hints_in_the_ptflops_convention(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    hints = await inlay_hints(client, uri)

    stack = line_of(TEXT, "nn.Sequential(")
    first = line_of(TEXT, "nn.Linear(28 * 28, 512)")
    relu = first + 1
    second = line_of(TEXT, "nn.Linear(512, 512)")
    third = line_of(TEXT, "nn.Linear(512, 10)")
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)")
    assert hints == {
        # The Sequential's line carries its whole subtree: every MAC and param of the model.
        stack: "670.73 KMac · 669.71 k params · 100.0%",
        first: "401.92 KMac · 401.92 k params · 59.9%",
        relu: "512 Mac · 0 params · 0.1%",
        second: "262.66 KMac · 262.66 k params · 39.2%",
        relu + 2: "512 Mac · 0 params · 0.1%",
        third: "5.13 KMac · 5.13 k params · 0.8%",
        # forward: the line that runs the stack does all the work; its output is [1, 10].
        call: "670.73 KMac → [1, 10]",
    }
    # Each sits at the end of its line, labels under 40 characters, detail in the tooltip.
    lines = TEXT.splitlines()
    for hint in await inlay_hint_objects(client, uri):
        assert hint.position.character == len(lines[hint.position.line])
        assert isinstance(hint.label, str) and len(hint.label) < 40
        assert hint.tooltip is not None
        assert hint.padding_left


async def test_macs_convention_and_the_show_setting(client: LanguageClient) -> None:
    # macs convention: no bias, no activations. Linear(784, 512) = 784·512 = 401,408 MACs;
    # total 784·512 + 512·512 + 512·10 = 401,408 + 262,144 + 5,120 = 668,672 MACs.
    recorder = await start(
        client, {"convention": "macs", "inlayHints": {"show": ["flops", "share", "shape"]}}
    )
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    hints = await inlay_hints(client, uri)
    first = line_of(TEXT, "nn.Linear(28 * 28, 512)")
    call = line_of(TEXT, "logits = self.linear_relu_stack(x)")
    # FLOPs = 2 × MACs: 802,816 → 802.82 KFLOPs; 401,408 / 668,672 = 60.03 %.
    assert hints[first] == "802.82 KFLOPs · 60.0%"
    assert hints[call] == "1.34 MFLOPs → [1, 10]"  # 2 · 668,672 = 1,337,344
    # ReLU lines do no MACs in this convention and have no params: no hint.
    assert first + 1 not in hints


async def test_min_share_hides_small_lines(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops", "inlayHints": {"minShare": 0.05}})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    hints = await inlay_hints(client, uri)
    # Under 5 %: both ReLUs (0.08 %) and Linear(512, 10) (0.76 %).
    assert line_of(TEXT, "nn.Linear(512, 10)") not in hints
    assert line_of(TEXT, "nn.ReLU()") not in hints
    assert line_of(TEXT, "nn.Linear(512, 512)") in hints


async def test_hints_disabled(client: LanguageClient) -> None:
    recorder = await start(client, {"inlayHints": {"enabled": False}})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert await inlay_hints(client, uri) == {}


async def test_instance_line_shows_the_model_total(client: LanguageClient) -> None:
    # Net(): Linear(64, 32) = 64·32 = 2,048 MACs (macs convention), 64·32 + 32 = 2,080 params.
    text = (
        "from torch import nn\n"
        "\n"
        "\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(64, 32)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
        "\n"
        "\n"
        "net = Net()  # flopsight: input=(1, 64)\n"
    )
    recorder = await start(client)
    uri = open_text(client, EXAMPLES.parent / "tests" / "data" / "lsp" / "instance.py", text)
    await recorder.analysed(uri)
    hints = await inlay_hints(client, uri)
    assert hints[12] == "2.05 KMac · 2.08 k params"


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
