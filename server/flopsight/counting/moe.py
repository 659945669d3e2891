"""Mixture-of-Experts on meta: grouped matmuls, data-dependent routing, active parameters.

- ``torch._grouped_mm`` / ``_scaled_grouped_mm`` (what Hugging Face's experts call) get a MACs
  formula, Σ rows × K × N over the groups, and a meta output in any dtype (torch's own meta
  kernel accepts bf16 / fp8 only, and its counter has no formula for them).
- Routing by data (``nonzero``, ``torch.where(mask)``, ``bincount``) has no shape on meta. Under
  the documented assumption of balanced routing (docs/conventions.md), each of E experts
  receives T × k / E of the T tokens' k choices; the last ``topk`` the model ran (its
  router's) tells T, E and k. Every use of the assumption is reported as a note.
- ``active_params``: the parameters one token uses, every parameter outside the routed
  experts plus the routed experts' × k / E (shared experts count whole).
"""

from __future__ import annotations

import math
import re
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flopsight.counting import formulas, meta_fast

aten = torch.ops.aten


# --- grouped matmuls ---------------------------------------------------------------------


def _grouped_shape(a: torch.Tensor, b: torch.Tensor, offs: Any) -> list[int] | None:
    """The output shape of a grouped matmul (as torch's meta kernel computes it), or None."""
    if a.dim() not in (2, 3) or b.dim() not in (2, 3):
        return None
    if a.dim() == 2 and b.dim() == 2:  # K split into groups: one (M, N) result per group
        if not isinstance(offs, torch.Tensor) or a.shape[1] != b.shape[0]:
            return None
        return [int(offs.shape[0]), int(a.shape[0]), int(b.shape[1])]
    if a.shape[-1] != b.shape[-2]:
        return None
    if a.dim() == 2:  # rows split into groups, one weight matrix per group (MoE experts)
        return [int(a.shape[0]), int(b.shape[-1])]
    if b.dim() == 2:  # N split into groups
        return [int(a.shape[1]), int(b.shape[1])]
    if a.shape[0] != b.shape[0]:
        return None
    return [int(a.shape[0]), int(a.shape[1]), int(b.shape[-1])]


def grouped_mm_macs(a: Any, b: Any, out: Any) -> int:
    """Σ over groups of rows × K × N: every row of ``a`` meets one group's K × N matrix (with
    K split into groups, every (M, N) output sums over its share of K)."""
    if a.dim() == 2 and b.dim() == 2:
        return int(a.shape[0]) * int(a.shape[1]) * int(b.shape[1])
    return math.prod(int(d) for d in out.shape) * int(a.shape[-1])


def _fake_grouped(
    a: Any, b: Any, offs: Any, out_dtype: Any, default_dtype: torch.dtype | None
) -> Any:
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return None
    if not (a.is_meta and b.is_meta):
        return None
    shape = _grouped_shape(a, b, offs)
    if shape is None:
        return None
    dtype = out_dtype or default_dtype or a.dtype
    return torch.empty(shape, dtype=dtype, device="meta")


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


@meta_fast.register([aten._grouped_mm])
def _grouped_mm_meta(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # _grouped_mm(self, mat2, offs=None, bias=None, out_dtype=None)
    offs = _argument(args, kwargs, 2, "offs")
    return _fake_grouped(args[0], args[1], offs, _argument(args, kwargs, 4, "out_dtype"), None)


@meta_fast.register([aten._scaled_grouped_mm])
def _scaled_grouped_mm_meta(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (self, mat2, scale_a, scale_b, offs=None, bias=None, scale_result=None, out_dtype=None, ..)
    offs = _argument(args, kwargs, 4, "offs")
    out_dtype = _argument(args, kwargs, 7, "out_dtype")
    return _fake_grouped(args[0], args[1], offs, out_dtype, torch.bfloat16)


@meta_fast.register([aten._scaled_grouped_mm_v2])
def _scaled_grouped_mm_v2_meta(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (self, mat2, scale_a, recipe_a, swizzle_a, scale_b, recipe_b, swizzle_b, offs, bias, dtype)
    offs = _argument(args, kwargs, 8, "offs")
    out_dtype = _argument(args, kwargs, 10, "out_dtype")
    return _fake_grouped(args[0], args[1], offs, out_dtype, torch.bfloat16)


@formulas.register(
    [aten._grouped_mm, aten._scaled_grouped_mm, aten._scaled_grouped_mm_v2], "matmul"
)
def _grouped_mm_formula(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return grouped_mm_macs(args[0], args[1], out)


# Routing bookkeeping costs nothing, as index arithmetic and counting are free elsewhere.
@formulas.register([aten.histc, aten.bincount, aten.floor_divide], "")
def _routing_bookkeeping(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return 0


# --- balanced routing --------------------------------------------------------------------


MAX_EXPERTS = 4096
MAX_TOP_K = 64


@dataclass
class Routing:
    """What the last router did: T rows chose k of E experts each."""

    rows: int
    experts: int
    top_k: int


@dataclass
class _Session:
    routing: Routing | None = None
    # Every (E, k) a topk chose, for active_params.
    routers: set[tuple[int, int]] = field(default_factory=set)
    faked: Counter[str] = field(default_factory=Counter)
    # Per-expert counts faked on meta (bincount), by id: read back (.tolist(), .item()) as the
    # balanced value, so `counts = torch.bincount(ids).tolist()` works as in DeepSeek's code.
    balanced: dict[int, tuple[weakref.ref[torch.Tensor], int]] = field(default_factory=dict)


_session = _Session()


def begin() -> None:
    """A new count: forget the previous model's routers."""
    global _session
    _session = _Session()


@meta_fast.register([aten.topk])
def _topk_seen(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Only watches: a router's topk over E experts tells T, E and k. The op runs as usual.
    x = args[0]
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        return None
    k = int(_argument(args, kwargs, 1, "k"))
    dim = int(_argument(args, kwargs, 2, "dim") if len(args) > 2 or "dim" in kwargs else -1)
    experts = int(x.shape[dim])
    # A router picks a few of at most a few thousand experts along the last dim; an RPN's
    # topk(1000) over anchors or a beam search over a vocabulary is no routing.
    last = dim in (-1, x.dim() - 1)
    if last and 1 <= k <= MAX_TOP_K and k < experts <= MAX_EXPERTS:
        rows = x.numel() // experts
        _session.routing = Routing(rows, experts, k)
        _session.routers.add((experts, k))
    return None


def _true_count(mask: torch.Tensor, routing: Routing) -> int:
    """How many elements of a routing mask are true when routing is balanced.

    A mask over (token, choice) pairs (a dim of size k) is true for 1 / E of them (one expert's
    share); over (token, expert) pairs, or over tokens, for k / E; a mask over the experts
    alone (which experts got tokens) is all true.
    """
    shape = [int(d) for d in mask.shape]
    n = math.prod(shape)
    e, k = routing.experts, routing.top_k
    if len(shape) == 1 and shape[0] in (e, e + 1):
        return e if shape[0] == e + 1 else shape[0]
    if k in shape and e not in shape and (e + 1) not in shape:
        return n // e
    return n * k // e if n * k >= e else n


@meta_fast.register([aten.nonzero])
def _nonzero_balanced(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    mask = args[0]
    routing = _session.routing
    if routing is None or not isinstance(mask, torch.Tensor) or not mask.is_meta or kwargs:
        return None
    _session.faked["nonzero"] += 1
    count = _true_count(mask, routing)
    return torch.empty((count, mask.dim()), dtype=torch.long, device="meta")


@meta_fast.register([aten.bincount])
def _bincount_balanced(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # bincount(self, weights=None, minlength=0): one bin per expert (values < E).
    x = args[0]
    routing = _session.routing
    if routing is None or not isinstance(x, torch.Tensor) or not x.is_meta:
        return None
    weights = _argument(args, kwargs, 1, "weights")
    minlength = int(_argument(args, kwargs, 2, "minlength") or 0)
    _session.faked["bincount"] += 1
    dtype = torch.long
    if isinstance(weights, torch.Tensor):
        dtype = torch.float32 if weights.dtype == torch.float32 else torch.float64
    out = torch.empty((max(minlength, routing.experts),), dtype=dtype, device="meta")
    if weights is None:
        _session.balanced[id(out)] = (weakref.ref(out), x.numel() // routing.experts)
    return out


def _balanced_value(t: Any) -> int | None:
    if not isinstance(t, torch.Tensor) or not t.is_meta:
        return None
    entry = _session.balanced.get(id(t))
    if entry is None or entry[0]() is not t:
        return None
    return entry[1]


@meta_fast.register([aten._to_copy])
def _balanced_to_cpu(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # `.tolist()` / `.cpu()` of faked per-expert counts: every expert got its balanced share.
    value = _balanced_value(args[0]) if args else None
    device = kwargs.get("device")
    if value is None or device is None or torch.device(device).type != "cpu":
        return None
    return torch.full(tuple(args[0].shape), value, dtype=kwargs.get("dtype") or args[0].dtype)


@meta_fast.register([aten._local_scalar_dense])
def _balanced_item(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = _balanced_value(args[0]) if args else None
    return value if value is not None and args[0].numel() == 1 else None


def routing_notes() -> list[str]:
    """The report's note when the balanced-routing assumption shaped the count."""
    faked = _session.faked
    if not faked:
        return []
    ops = ", ".join(f"{op} ×{n}" for op, n in sorted(faked.items()))
    routing = _session.routing
    share = ""
    if routing is not None:
        rows = routing.rows * routing.top_k / routing.experts
        share = (
            f": each of {routing.experts} experts receives {routing.rows} tokens × "
            f"{routing.top_k} / {routing.experts} = {rows:g} rows"
        )
    return [
        f"routing depends on the data ({ops}); counted on meta assuming balanced routing{share}"
    ]


# --- active parameters -------------------------------------------------------------------

_SHARED = re.compile(r"shared", re.IGNORECASE)
_EXPERTS = re.compile(r"experts?$", re.IGNORECASE)


@dataclass
class ExpertGroup:
    """The routed experts of one MoE block: their parameters and how many there are."""

    path: str
    experts: int
    params: int


def _own_params(module: nn.Module) -> int:
    return sum(int(p.numel()) for p in module.parameters())


def expert_groups(model: nn.Module) -> Iterator[ExpertGroup]:
    """Each block of routed experts: an ``experts`` ModuleList of E modules, or an experts
    module holding E-stacked weights (Hugging Face's fused ``gate_up_proj`` (E, 2I, H))."""
    skip: list[str] = []
    for path, module in model.named_modules():
        if any(path.startswith(s) for s in skip):
            continue
        name = path.rsplit(".", 1)[-1]
        if not _EXPERTS.search(name) and not type(module).__name__.endswith("Experts"):
            continue
        if _SHARED.search(name) or _SHARED.search(type(module).__name__):
            continue
        if isinstance(module, nn.ModuleList | nn.ModuleDict) and len(module) >= 2:
            yield ExpertGroup(path, len(module), _own_params(module))
            skip.append(path + ".")
            continue
        stacked = [p for p in module.parameters(recurse=False) if p.dim() == 3]
        leading = {int(p.shape[0]) for p in stacked}
        if stacked and len(leading) == 1 and (e := leading.pop()) >= 2:
            yield ExpertGroup(path, e, _own_params(module))
            skip.append(path + ".")


def _top_k_of(model: nn.Module, group: ExpertGroup) -> int | None:
    """k for a group of E experts: the router seen choosing among E, else the model's config."""
    ks = {k for e, k in _session.routers if e == group.experts}
    if len(ks) == 1:
        return ks.pop()
    config = getattr(model, "config", None)
    for attr in ("num_experts_per_tok", "moe_top_k", "top_k"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and 1 <= value <= group.experts:
            return value
    return None


def active_params(model: nn.Module, total: int) -> int | None:
    """Parameters one token uses; None for a model without routed experts (or whose k is
    unknown)."""
    groups = list(expert_groups(model))
    if not groups:
        return None
    active = total
    for group in groups:
        k = _top_k_of(model, group)
        if k is None:
            return None
        active -= group.params - group.params * k // group.experts
    return active
