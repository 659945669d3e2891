"""Diagnostic codes, shown in the editor and the CLI and listed in the README, and the error
kinds a model's report can carry, each with its code.

FS1xx: the source text and its annotations; FS2xx: the model when it runs;
FS3xx: limits and the worker; FS4xx: flopsight's own state.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, get_args


class Code(str, Enum):
    FS101 = "FS101"
    FS102 = "FS102"
    FS103 = "FS103"
    FS104 = "FS104"
    FS105 = "FS105"
    FS106 = "FS106"
    FS107 = "FS107"
    FS108 = "FS108"
    FS201 = "FS201"
    FS202 = "FS202"
    FS203 = "FS203"
    FS204 = "FS204"
    FS205 = "FS205"
    FS206 = "FS206"
    FS301 = "FS301"
    FS302 = "FS302"
    FS303 = "FS303"
    FS304 = "FS304"
    FS305 = "FS305"
    FS401 = "FS401"
    FS402 = "FS402"

    def __str__(self) -> str:
        return self.value


CODES: dict[Code, str] = {
    Code.FS101: "The file does not parse (syntax error); the last good results stay until it does.",
    Code.FS102: "Malformed flopsight pragma: not `key=value` pairs of Python literals.",
    Code.FS103: (
        "Unknown pragma key (known: input, dtype, init, dims, name, mode, optimizer, precision)."
    ),
    Code.FS104: "Pragma value of the wrong form (e.g. a shape that is not a tuple of ints).",
    Code.FS105: "Symbolic dimension without a value (set it with dims= or flopsight.dims).",
    Code.FS106: "Shape annotation on forward() not understood.",
    Code.FS107: "Model without an input shape: not executed (a code action inserts a pragma).",
    Code.FS108: (
        "A flopsight pragma that belongs to no model (not on a class or a module-level assignment)."
    ),
    Code.FS201: "The model raised while it was built (__init__).",
    Code.FS202: "The model raised in forward() (a shape mismatch, say), at the line that raised.",
    Code.FS203: "A top-level statement failed while the file's definitions ran; counting went on.",
    Code.FS204: "Ops without a formula in this convention were not counted (listed in the report).",
    Code.FS205: "The annotated name is not an nn.Module, or the model could not be found.",
    Code.FS206: (
        "Training mode without a backward: no floating output, a loss that does not require "
        "grad, a forward under torch.no_grad(), or a backward that raised; the forward is "
        "counted."
    ),
    Code.FS301: "The analysis hit the time limit (flopsight.limits.timeoutSeconds).",
    Code.FS302: "The analysis hit the memory limit (flopsight.limits.memoryMB).",
    Code.FS303: "The analysis process died (crash, os._exit, signal).",
    Code.FS304: "The worker is unavailable (the interpreter lacks torch, or it is restarting).",
    Code.FS305: "The device to measure on is not available here (flopsight measure --device).",
    Code.FS401: (
        "Execution is turned off (flopsight.execute is false, or the workspace is untrusted)."
    ),
    Code.FS402: "The file is larger than flopsight.maxFileSizeKB: not analysed.",
}

# What went wrong with one model, as the part of flopsight that saw it says it.
ErrorKind = Literal[
    "inputs",  # the runner: the inputs could not be made from the annotation
    "pragma",  # the runner: a pragma value the built model refutes (a name forward lacks)
    "dims",  # the runner: a symbolic dimension has no value
    "build",  # the runner: the model raised while it was built
    "not_module",  # the runner: the annotated name is bound to something else
    "not_found",  # the runner: no model by that name exists when the file has run
    "forward",  # the runner: forward() raised
    "device",  # measure: the device asked for is not available
    "timeout",  # the worker: the time limit was hit
    "memory",  # the worker (or measure, before building): the memory limit was hit
    "crash",  # the worker: the job's process died
    "unavailable",  # the worker (or the server): no worker could run the job
]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)

KIND_CODES: dict[ErrorKind, Code] = {
    "inputs": Code.FS104,
    "pragma": Code.FS104,
    "dims": Code.FS105,
    "build": Code.FS201,
    "not_module": Code.FS205,
    "not_found": Code.FS205,
    "forward": Code.FS202,
    "device": Code.FS305,
    "timeout": Code.FS301,
    "memory": Code.FS302,
    "crash": Code.FS303,
    "unavailable": Code.FS304,
}
