"""The text table, the Markdown page and the measure table say the same thing, in one wording,
for a model without a count (an error, no input shape) and for what follows the tables; each
names a setting the way its reader knows it."""

from __future__ import annotations

from flopsight.report.markdown import render_markdown
from flopsight.report.measure_table import render_measure_table
from flopsight.report.model import FileReport, ModelError, ModelReport, SourceWarning
from flopsight.report.table import render_table


def _report() -> FileReport:
    timeout = ModelError(
        "the analysis did not finish within the time limit of 2 s and was stopped",
        "TimeLimitExceeded",
        "timeout",
        setting="limits.timeoutSeconds",
    )
    return FileReport(
        file="net.py",
        convention="macs",
        models=[
            ModelReport("Slow", "class", 4, status="error", error=timeout),
            ModelReport("Plain", "class", 12, status="skipped"),
        ],
        warnings=[SourceWarning("NameError: name 'helper' is not defined", 2)],
        notes=["a note"],
    )


ERROR = (
    "error: FS301 TimeLimitExceeded: the analysis did not finish within the time limit of 2 s "
    "and was stopped; raise the limit with {name} (at net.py:4)"
)
SKIPPED = (
    "Not counted (no input shape): Plain (line 12); add `# flopsight: input=(...)` to count one "
    "on its own, or pass --model NAME --input SHAPE"
)
WARNING = "net.py:2: top-level statement failed (counting went on): NameError: name 'helper' is "
WARNING += "not defined"


def test_the_error_reads_the_same_in_text_and_markdown() -> None:
    report = _report()
    text = render_table(report)
    page = render_markdown(report)
    assert f"  {ERROR.format(name='flopsight.limits.timeoutSeconds')}" in text.splitlines()
    assert ERROR.format(name="flopsight.limits.timeoutSeconds") in page.splitlines()
    flags = render_table(report, settings=lambda s: "--timeout")
    assert f"  {ERROR.format(name='--timeout')}" in flags.splitlines()


def test_what_follows_the_tables_is_one_wording() -> None:
    report = _report()
    text = render_table(report).splitlines()
    page = render_markdown(report).splitlines()
    measured = render_measure_table(report).splitlines()
    assert SKIPPED in text and SKIPPED in page
    assert SKIPPED.replace("Not counted", "Not measured") in measured
    assert f"warning: {WARNING}" in text and f"warning: {WARNING}" in measured
    assert f"- {WARNING}" in page
    assert "note: a note" in text and "note: a note" in measured and "_a note_" in page


def test_nothing_to_show_is_no_output_at_all() -> None:
    report = FileReport(file="net.py", convention="macs", models=[_report().models[0]])
    assert render_table(report, include_errors=False) == ""
