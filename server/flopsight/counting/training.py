"""A training step's pieces around the count: the mode, the loss the backward differentiates,
why a step has no backward, and the notes the report carries (``count_model(mode="train")``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from flopsight.counting.conventions.base import ConventionTally
from flopsight.counting.tensors import dtype_name, tensors
from flopsight.report.model import Mode, ModelReport


def set_mode(model: nn.Module, training: bool) -> list[tuple[nn.Module, bool]]:
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    return modes


MODES: dict[str, Mode] = {
    "inference": "inference",
    "eval": "inference",
    "training": "training",
    "train": "training",
}


def parse_mode(name: str) -> Mode:
    mode = MODES.get(name)
    if mode is None:
        raise ValueError(f"unknown mode {name!r}: use 'inference' or 'train'")
    return mode


def is_loss(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()


def loss_of(output: Any) -> tuple[torch.Tensor | None, str]:
    """The loss a training step differentiates, and which output it is (for the report).

    A 0-d floating tensor: ``.loss`` (Hugging Face with ``labels``), a ``loss`` key, an
    element of a returned tuple (nanoGPT's ``(logits, loss)``) or the output itself; else the
    sum of every floating output. None (and what the output is) when there is none.
    """
    if not isinstance(output, torch.Tensor):
        attribute = getattr(output, "loss", None)
        if is_loss(attribute):
            return attribute, "output.loss"
    if isinstance(output, Mapping) and is_loss(output.get("loss")):
        return output["loss"], 'output["loss"]'
    if isinstance(output, (tuple, list)):
        for i, item in enumerate(output):
            if is_loss(item):
                return item, f"output[{i}] (a 0-d tensor)"
    if is_loss(output):
        return output, "the output (a 0-d tensor)"
    floats = [t for t in tensors(output) if t.is_floating_point() or t.is_complex()]
    if not floats:
        kinds = sorted({dtype_name(t.dtype) for t in tensors(output)})
        got = f"only {', '.join(kinds)} tensors" if kinds else f"a {type(output).__name__}"
        return None, got
    loss = floats[0].sum()
    for tensor in floats[1:]:
        loss = loss + tensor.sum()
    n = len(floats)
    return loss, f"the sum of the floating output{'s' if n > 1 else ''} ({n} tensor{'s' * (n > 1)})"


def no_backward_reason(
    loss: torch.Tensor | None, described: str, grad_off_line: int | None
) -> str | None:
    """Why the training step has no backward (None when it has one)."""
    if loss is None:
        return (
            f"no backward: the output has no floating tensor to take as the loss ({described}); "
            "return logits or a 0-d loss for training mode to count the backward"
        )
    if loss.requires_grad:
        return None
    if grad_off_line is not None:
        where = f"; line {grad_off_line} ran under it" if grad_off_line else ""
        return (
            f"no backward: forward ran with gradients off (under torch.no_grad() or "
            f"torch.inference_mode(){where}), so autograd recorded nothing to differentiate; "
            "remove it to count the training step"
        )
    return (
        f"no backward: the loss ({described}) does not require grad: no trainable parameter "
        "or input feeds it (all frozen, or only integer or detached ops on the way)"
    )


def run_backward(model: nn.Module, loss: torch.Tensor, args: tuple[Any, ...], kwargs: Any) -> None:
    """``loss.backward()``, leaving the parameters' and inputs' ``.grad`` as they were."""
    leaves = [*model.parameters(), *tensors(list(args)), *tensors(dict(kwargs))]
    grads = [(t, t.grad) for t in leaves if t.requires_grad]
    try:
        torch.autograd.backward(loss)
    finally:
        for tensor, grad in grads:
            tensor.grad = grad


def training_notes(
    report: ModelReport, phases: list[ConventionTally], loss_of: str, no_backward: str | None
) -> None:
    """A training step's totals per phase, which output was the loss, and what is missing."""
    assert report.total is not None
    root = report.layers[0]
    convention = phases[0].convention
    if len(phases) > 1:
        report.total.forward_macs = root.forward_macs
        report.total.backward_macs = root.backward_macs
        report.total.recompute_macs = root.recompute_macs
    report.loss = loss_of or None
    if no_backward is not None:
        report.no_backward = no_backward
        return
    if not convention.has_backward:
        report.notes.append(
            f"training mode: the {convention.name} convention has no backward of its own, so "
            "only the forward (in train()) is shown; the macs convention counts the backward"
        )
        return
    report.notes.append(
        f"training step: forward in train(), then the backward of {loss_of}; each backward op "
        "is charged to the forward module and line it differentiates"
    )
