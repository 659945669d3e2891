"""What the pragma asks of the built model: its ``init`` expressions evaluated, its inputs passed
to ``forward``, both checked in the worker (the source side never evaluates anything).

The source side sees ``forward`` only when the class is defined in the file; for an instance
(``T5ForConditionalGeneration(...)``) or an inherited ``forward`` only the built model knows.
Named inputs (the pragma's dict, ``--input name=...``) always go by keyword, so a dict never
lands in the wrong parameter; positional inputs take their names from the signature.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from flopsight.report.model import InputSpec
from flopsight.source.model import InitExpression, ModelSpec

_TAKES_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_TAKES_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class PragmaValueError(ValueError):
    """A pragma value the built model refutes (FS104): an input name ``forward`` does not
    take, inputs that do not bind, an ``init`` expression that raised."""


def forward_signature(model: nn.Module) -> inspect.Signature | None:
    """``model.forward``'s signature (bound: no ``self``), or None where Python cannot tell."""
    try:
        return inspect.signature(model.forward)
    except (TypeError, ValueError):
        return None


def _typed_keywords(param: inspect.Parameter) -> frozenset[str] | None:
    """The keys of ``**kwargs: Unpack[SomeTypedDict]`` (Hugging Face's forward), else None:
    any keyword."""
    annotation = param.annotation
    if typing.get_origin(annotation) is not getattr(typing, "Unpack", object()):
        return None
    (typed,) = typing.get_args(annotation) or (None,)
    keys = getattr(typed, "__required_keys__", None), getattr(typed, "__optional_keys__", None)
    if keys[0] is None or keys[1] is None:
        return None
    return frozenset(keys[0]) | frozenset(keys[1])


def _takes(signature: inspect.Signature) -> str:
    shown = []
    for p in signature.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            shown.append(f"*{p.name}")
        elif p.kind == p.VAR_KEYWORD:
            shown.append(f"**{p.name}")
        else:
            shown.append(p.name)
    return ", ".join(shown) or "no inputs"


def name_inputs(model: nn.Module, inputs: Sequence[InputSpec]) -> list[InputSpec]:
    """The inputs with each positional one named after the parameter it lands in."""
    signature = forward_signature(model)
    if signature is None:
        return list(inputs)
    slots = [p.name for p in signature.parameters.values() if p.kind in _TAKES_POSITION]
    out: list[InputSpec] = []
    position = 0
    for spec in inputs:
        if not spec.keyword and position < len(slots):
            spec = replace(spec, name=slots[position])
        position += 0 if spec.keyword else 1
        out.append(spec)
    return out


def call_arguments(
    model: nn.Module, tensors: Sequence[torch.Tensor], inputs: Sequence[InputSpec], label: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` for ``model(*args, **kwargs)``: positional inputs in order, named
    ones by keyword. Raises ``PragmaValueError`` naming the real parameters when a name is not
    one of them or the call would not bind."""
    args = tuple(t for t, spec in zip(tensors, inputs, strict=True) if not spec.keyword)
    kwargs = {spec.name: t for t, spec in zip(tensors, inputs, strict=True) if spec.keyword}
    signature = forward_signature(model)
    if signature is None:
        return args, kwargs
    params = signature.parameters
    takes = _takes(signature)
    keywords = [name for name, p in params.items() if p.kind in _TAKES_KEYWORD]
    var_keyword = next((p for p in params.values() if p.kind == p.VAR_KEYWORD), None)
    typed = _typed_keywords(var_keyword) if var_keyword is not None else None
    any_keyword = var_keyword is not None and typed is None
    for name in kwargs:
        param = params.get(name)
        if param is None and typed is not None and name in typed:
            continue
        if param is not None and param.kind == param.POSITIONAL_ONLY:
            raise PragmaValueError(
                f"{label}.forward takes `{name}` by position only (it takes {takes}): "
                "give the inputs as a list of shapes in that order"
            )
        if param is None and not any_keyword:
            close = difflib.get_close_matches(name, keywords, n=1, cutoff=0.5)
            hint = f"did you mean `{close[0]}`?" if close else "use one of its parameter names"
            raise PragmaValueError(
                f"{label}.forward has no parameter `{name}` (it takes {takes}): {hint}"
            )
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise PragmaValueError(f"{label}.forward({takes}) cannot take these inputs: {e}") from None
    return args, kwargs


def evaluate_init(
    spec: ModelSpec, namespace: dict[str, Any], path: str, flags: int
) -> dict[str, Any]:
    """The pragma's ``init`` with each expression evaluated in the file's namespace (after its
    definitions ran). An expression that raises is an ``PragmaValueError`` saying which and why."""
    out: dict[str, Any] = {}
    for key, value in spec.init.items():
        if not isinstance(value, InitExpression):
            out[key] = value
            continue
        try:
            code = compile(value.text, path, "eval", flags=flags, dont_inherit=True)
            out[key] = eval(code, namespace)
        except (Exception, SystemExit) as e:
            text = str(e).strip()
            raised = f"{type(e).__name__}: {text}" if text else type(e).__name__
            raise PragmaValueError(
                f"init[{key!r}] = {value.text} raised {raised}: fix the expression (it runs in "
                "the file's namespace, after its definitions)"
            ) from None
    return out
