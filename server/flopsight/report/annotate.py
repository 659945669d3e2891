"""``flopsight annotate``: the file's text with, at the end of each line, the label the editor
shows there as an inlay hint (report/hints.py), aligned in one column. Pure, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

from flopsight.report.hints import DEFAULT_PARTS, file_line_labels
from flopsight.report.model import FileReport
from flopsight.source.text import split_lines

# Lines longer than this do not push the column further right; their label follows them.
MAX_COLUMN = 88
MARK = "# "
MAX_ERROR = 80


def annotate_text(
    text: str,
    report: FileReport,
    parts: Sequence[str] = DEFAULT_PARTS,
    min_share: float = 0.0,
) -> str:
    """``text`` with each model's labels appended as comments (so the output is still Python)."""
    labels = file_line_labels(report.models, parts, min_share, class_total=True)
    for model in report.models:
        if model.status == "error" and model.error is not None:
            err = model.error
            message = (err.message.splitlines() or [""])[0]
            mark = f"✗ {err.type}: {message}"
            mark = mark if len(mark) <= MAX_ERROR else mark[: MAX_ERROR - 1] + "…"
            labels.setdefault(err.line or model.line, mark)
    lines = split_lines(text)
    if lines[-1] == "":
        lines.pop()  # the break ending the last line starts no line of its own here
    labelled = [len(lines[n - 1].rstrip()) for n in labels if 0 < n <= len(lines)]
    column = min(max(labelled, default=0), MAX_COLUMN) + 2
    out = []
    for number, line in enumerate(lines, start=1):
        label = labels.get(number)
        if label is None:
            out.append(line)
            continue
        code = line.rstrip()
        out.append(f"{code.ljust(column - 2)}  {MARK}{label}")
    return "\n".join(out) + "\n"
