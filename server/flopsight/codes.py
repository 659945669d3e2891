"""Diagnostic codes, shown in the editor and the CLI and listed in the README.

FS1xx: the source text and its annotations; FS2xx: the model when it runs;
FS3xx: limits and the worker; FS4xx: flopsight's own state.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    "FS101": "The file does not parse (syntax error); the last good results stay until it does.",
    "FS102": "Malformed flopsight pragma: not `key=value` pairs of Python literals.",
    "FS103": "Unknown pragma key (known: input, dtype, init, dims, name, mode).",
    "FS104": "Pragma value of the wrong form (e.g. a shape that is not a tuple of ints).",
    "FS105": "Symbolic dimension without a value (set it with dims= or flopsight.dims).",
    "FS106": "Shape annotation on forward() not understood.",
    "FS107": "Model without an input shape: not executed (a code action inserts a pragma).",
    "FS108": (
        "A flopsight pragma that belongs to no model (not on a class or a module-level assignment)."
    ),
    "FS201": "The model raised while it was built (__init__).",
    "FS202": "The model raised in forward() (a shape mismatch, say), at the line that raised.",
    "FS203": "A top-level statement failed while the file's definitions ran; counting went on.",
    "FS204": "Ops without a formula in this convention were not counted (listed in the report).",
    "FS205": "The annotated name is not an nn.Module, or the model could not be found.",
    "FS206": (
        "Training mode without a backward: no floating output, a loss that does not require "
        "grad, a forward under torch.no_grad(), or a backward that raised; the forward is "
        "counted."
    ),
    "FS301": "The analysis hit the time limit (flopsight.limits.timeoutSeconds).",
    "FS302": "The analysis hit the memory limit (flopsight.limits.memoryMB).",
    "FS303": "The analysis process died (crash, os._exit, signal).",
    "FS304": "The worker is unavailable (the interpreter lacks torch, or it is restarting).",
    "FS401": "Execution is turned off (flopsight.execute is false, or the workspace is untrusted).",
}
