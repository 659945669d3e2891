"""Build a model without paying for its weights, and make its example inputs.

First on the meta device; where the constructor needs real tensors (torchvision's RegNet calls
``.tolist()`` in ``__init__``), on the CPU with parameter and buffer registration redirected
to meta ("meta-params"); only then with real CPU tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from flopsight.dtypes import DTYPE_ALIASES
from flopsight.report.model import InputSpec


@contextmanager
def params_on_meta() -> Iterator[None]:
    """Redirect parameters and buffers to the meta device as modules register them."""
    register_parameter = nn.Module.register_parameter
    register_buffer = nn.Module.register_buffer

    def meta_parameter(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def meta_buffer(
        self: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True
    ) -> None:
        if tensor is not None:
            tensor = tensor.to("meta")
        register_buffer(self, name, tensor, persistent)

    nn.Module.register_parameter = meta_parameter  # type: ignore[method-assign]
    nn.Module.register_buffer = meta_buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
        nn.Module.register_buffer = register_buffer  # type: ignore[method-assign]


class _SkipInitOnMeta(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Weight initialisation on meta tensors does nothing: skip its in-place ops.

    ``normal_``, ``uniform_``, ``trunc_normal_``'s arithmetic and friends have slow Python
    meta kernels (about 2 ms a call); an in-place op cannot change its tensor's metadata, so
    returning the tensor itself is exactly what the kernel would give.
    """

    _skippable: ClassVar[dict[Any, bool]] = {}

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    @classmethod
    def _in_place(cls, func: Any) -> bool:
        skippable = cls._skippable.get(func)
        if skippable is None:
            schema = func._schema
            returns = schema.returns
            skippable = cls._skippable[func] = (
                torch.Tag.inplace in func.tags
                and torch.Tag.inplace_view not in func.tags
                and len(returns) == 1
                and returns[0].alias_info is not None
                and returns[0].alias_info.is_write
                and bool(schema.arguments)
                and schema.arguments[0].alias_info is not None
            )
        return skippable

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if args and isinstance(args[0], torch.Tensor) and args[0].is_meta and self._in_place(func):
            return args[0]
        return func(*args, **(kwargs or {}))


def _on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"), _SkipInitOnMeta():
        return factory()


def _meta_params(factory: Callable[[], nn.Module]) -> nn.Module:
    with params_on_meta(), _SkipInitOnMeta():
        return factory()


_ATTEMPTS: tuple[tuple[str, Callable[[Callable[[], nn.Module]], nn.Module]], ...] = (
    ("meta", _on_meta),
    ("meta-params", _meta_params),
    ("cpu", lambda factory: factory()),
)


def build_model(factory: Callable[[], nn.Module], start: str = "meta") -> tuple[nn.Module, str]:
    """Build with ``factory`` on meta, else with meta parameters, else on the CPU.

    Returns the model and the device used (``meta``, ``meta-params`` or ``cpu``); the CPU
    attempt's exception propagates when every attempt fails. ``start`` skips the earlier
    attempts: ``build_model(factory, start="cpu")`` after a forward pass that needed real
    tensors (see ``needs_real_tensors``).
    """
    names = [device for device, _ in _ATTEMPTS]
    if start not in names:
        raise ValueError(f"unknown build device {start!r}: use one of {', '.join(names)}")
    attempts = _ATTEMPTS[names.index(start) :]
    first: Exception | None = None
    for device, build in attempts[:-1]:
        try:
            return build(factory), device
        except Exception as e:
            first = first or e
    device, build = attempts[-1]
    try:
        return build(factory), device
    except (MemoryError, RuntimeError) as e:
        # Real tensors ran out of memory before reaching the error meta met: report that one.
        if first is not None and (isinstance(e, MemoryError) or "allocate" in str(e)):
            raise first from None
        raise


def needs_real_tensors(error: BaseException) -> bool:
    """Whether a failure on meta comes from the meta device itself (the model read data:
    ``.item()``, ``.tolist()``, ``nonzero``; or mixed meta and real tensors), so that the same
    model built and run on the CPU may well succeed."""
    return isinstance(error, NotImplementedError) or "meta" in str(error)


def torch_dtype(name: str) -> torch.dtype:
    """``"float16"``, ``"long"``, ``"torch.bfloat16"`` -> the torch dtype."""
    key = name.removeprefix("torch.")
    value: Any = getattr(torch, DTYPE_ALIASES.get(key, key), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {name!r} (expected e.g. float32, float16, bfloat16, long)")
    return value


def make_inputs(specs: list[InputSpec], device: str) -> list[torch.Tensor]:
    """Example inputs: meta tensors, or on the CPU randn floats and zero integers (valid ids)."""
    tensors: list[torch.Tensor] = []
    for spec in specs:
        dtype = torch_dtype(spec.dtype)
        if device in ("meta", "meta-params"):
            tensors.append(torch.empty(spec.shape, dtype=dtype, device="meta"))
        elif dtype.is_floating_point or dtype.is_complex:
            tensors.append(torch.randn(spec.shape, dtype=dtype, device=device))
        else:
            tensors.append(torch.zeros(spec.shape, dtype=dtype, device=device))
    return tensors
