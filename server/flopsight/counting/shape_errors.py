"""Shape errors said the way users know them: torch's CPU wording instead of its meta wording, and
a hint when the input lacks its batch dimension (ptflops users write ``(28, 28)`` for
``(1, 28, 28)``; ptflops adds the batch itself).

On meta, ``nn.Linear`` on a wrong shape says "a and b must have same reduction dim, but got
[28, 28] X [784, 512]" where the CPU says "mat1 and mat2 shapes cannot be multiplied (28x28 and
784x512)". The op that failed is read from the traceback (the counter's dispatch frame holds
``func`` and ``args``) and replayed on small real CPU tensors, which raise the CPU's message; a
failing op too big to replay gets the rewrite of a known wording instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_leaves, tree_map

# Replaying allocates the op's inputs for real: at most this many elements in all (64 MB fp32).
REPLAY_LIMIT = 16 * 1024 * 1024

_REDUCTION = re.compile(
    r"a and b must have same reduction dim, but got \[([\d, ]*)\] X \[([\d, ]*)\]\.?"
)


def _mat(dims: str) -> str:
    return "x".join(d.strip() for d in dims.split(",") if d.strip())


# Meta wording -> CPU wording, where the message itself carries everything the CPU one says.
_REWRITES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        _REDUCTION,
        lambda m: f"mat1 and mat2 shapes cannot be multiplied ({_mat(m[1])} and {_mat(m[2])})",
    ),
]


def _failing_op(e: BaseException) -> tuple[Any, tuple[Any, ...], dict[str, Any]] | None:
    """The aten op (and its arguments) that raised: the innermost dispatch frame's locals."""
    found = None
    tb = e.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "__torch_dispatch__":
            local = frame.f_locals
            func, args = local.get("func"), local.get("args")
            if isinstance(func, torch._ops.OpOverload) and isinstance(args, tuple):
                kwargs = local.get("kwargs")
                found = (func, args, kwargs if isinstance(kwargs, dict) else {})
        tb = tb.tb_next
    return found


def _numel(tree: Any) -> int:
    return sum(x.numel() for x in tree_leaves(tree) if isinstance(x, torch.Tensor))


def _on_cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.is_meta:
        return torch.zeros(x.shape, dtype=x.dtype)
    if isinstance(x, torch.device) and x.type == "meta":
        return torch.device("cpu")
    return x


def _replayed_message(e: BaseException) -> str | None:
    """What the failing op raises on the CPU with the same shapes; None when it cannot say."""
    op = _failing_op(e)
    if op is None:
        return None
    func, args, kwargs = op
    if not any(isinstance(x, torch.Tensor) and x.is_meta for x in tree_leaves(args)):
        return None
    if _numel((args, kwargs)) > REPLAY_LIMIT:
        return None
    try:
        cpu_args, cpu_kwargs = tree_map(_on_cpu, (args, kwargs))
        func(*cpu_args, **cpu_kwargs)
    except Exception as cpu_error:  # the CPU raises too: its wording is the one users know
        if type(cpu_error) is type(e):
            text = str(cpu_error).strip()
            return text.splitlines()[0] if text else None
    return None


def cpu_wording(e: BaseException) -> str | None:
    """The CPU's wording of a shape error raised on meta, or None when it reads the same."""
    message = str(e).strip()
    replayed = _replayed_message(e)
    if replayed is not None and replayed != message:
        return replayed
    for pattern, rewrite in _REWRITES:
        match = pattern.search(message)
        if match is not None:
            return message[: match.start()] + rewrite(match) + message[match.end() :]
    return None


def with_batch(shapes: list[list[int]]) -> list[list[int]]:
    """Each shape with a leading batch dimension of 1."""
    return [[1, *shape] for shape in shapes]


def shape_text(shapes: list[list[int]]) -> str:
    """``(1, 28, 28)``; several shapes as ``[(1, 28), (1, 4)]``, as a pragma writes them."""
    one = ["(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" for s in shapes]
    return one[0] if len(one) == 1 else "[" + ", ".join(one) + "]"


def batch_hint(shapes: list[list[int]]) -> str:
    return (
        "the input may lack its batch dimension: flopsight takes the whole shape; "
        f"with {shape_text(with_batch(shapes))} it runs"
    )
