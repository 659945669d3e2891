"""Job functions the worker tests inject in place of the runner (``--job jobs:exec_text``)."""

from __future__ import annotations

import sys
import types

from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport


def exec_text(request: AnalysisRequest) -> FileReport:
    """Executes the buffer as a module and reports its ``RESULT`` variable in ``notes``."""
    module = types.ModuleType("job_module")
    module.__file__ = request.path
    sys.modules["job_module"] = module
    exec(compile(request.text, request.path, "exec"), module.__dict__)
    return FileReport(
        file=request.path,
        convention=request.convention,
        notes=[repr(module.__dict__.get("RESULT"))],
    )
