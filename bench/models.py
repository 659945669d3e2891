"""The models every tool is asked to count, by name; built only inside a benchmark child process."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# A small Llama from examples/llama.py: same code path as the 70B, sizes a CPU can run.
LLAMA_SMALL = {
    "vocab_size": 32000,
    "dim": 512,
    "n_layers": 4,
    "n_heads": 8,
    "n_kv_heads": 2,
    "ffn_dim": 1536,
    "max_seq_len": 512,
}


@dataclass(frozen=True)
class Input:
    shape: tuple[int, ...]
    dtype: str = "float32"
    name: str | None = None  # keyword argument of forward, when the model takes one


@dataclass(frozen=True)
class BenchModel:
    name: str
    family: str
    source: str  # where it comes from, for the tables
    inputs: tuple[Input, ...]
    torchvision: str | None = None  # torchvision.models name
    example: str | None = None  # examples/<file>
    cls: str | None = None  # class in the example file
    kwargs: dict[str, Any] = field(default_factory=dict)
    huge: bool = False  # larger than memory: peers are expected to fail on real tensors

    def factory(self) -> Callable[[], Any]:
        """A zero-argument constructor (call it inside the device context you want)."""
        if self.torchvision is not None:
            from flopsight.counting.tvfix import ensure_torchvision_importable

            ensure_torchvision_importable()
            import torchvision

            name = self.torchvision
            return lambda: torchvision.models.get_model(name, weights=None)
        assert self.example is not None and self.cls is not None
        cls = getattr(load_example(self.example), self.cls)
        kwargs = dict(self.kwargs)
        return lambda: cls(**kwargs)


def load_example(file: str) -> ModuleType:
    path = EXAMPLES / file
    spec = importlib.util.spec_from_file_location(f"bench_example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tv(name: str, family: str, size: int = 224) -> BenchModel:
    return BenchModel(
        name=name,
        family=family,
        source=f"torchvision.models.{name}",
        inputs=(Input((1, 3, size, size)),),
        torchvision=name,
    )


MODELS: tuple[BenchModel, ...] = (
    _tv("resnet50", "ResNet"),
    _tv("mobilenet_v3_large", "MobileNet"),
    _tv("efficientnet_b0", "EfficientNet"),
    _tv("densenet161", "DenseNet"),
    _tv("vgg16", "VGG"),
    _tv("squeezenet1_0", "SqueezeNet"),
    _tv("regnet_y_800mf", "RegNet"),
    _tv("convnext_tiny", "ConvNeXt"),
    _tv("vit_b_16", "ViT"),
    _tv("swin_t", "Swin"),
    BenchModel(
        name="seed_mlp",
        family="MLP",
        source="examples/seed_mlp.py",
        inputs=(Input((1, 28, 28)),),
        example="seed_mlp.py",
        cls="NeuralNetwork",
    ),
    BenchModel(
        name="transformer_block",
        family="Transformer",
        source="examples/transformer_block.py",
        inputs=(Input((1, 128, 256)),),
        example="transformer_block.py",
        cls="TransformerBlock",
    ),
    BenchModel(
        name="llama_small",
        family="Llama",
        source="examples/llama.py (d=512, 4 layers, 256 tokens)",
        inputs=(Input((1, 256), "int64", "tokens"),),
        example="llama.py",
        cls="Llama",
        kwargs=LLAMA_SMALL,
    ),
    BenchModel(
        name="llama_70b",
        family="Llama",
        source="examples/llama.py (defaults: 80 layers, d=8192, 2048 tokens)",
        inputs=(Input((1, 2048), "int64", "tokens"),),
        example="llama.py",
        cls="Llama",
        huge=True,
    ),
)

BY_NAME = {m.name: m for m in MODELS}
