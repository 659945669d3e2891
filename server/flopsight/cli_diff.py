"""``flopsight diff [REV] [FILES…]``: each model's cost now against the committed version
(``git show REV:path``), as a markdown table per model for pull requests; exit status 1 with
``--max-increase 5%`` when a model's MACs or params grow past it.

Without FILES, the Python files that differ from REV, and the files whose models run one of
them (``from layers import Block`` when only layers.py changed). The committed text runs at the
file's own path with the committed versions of the workspace files its models run (those the
current count read, ``FileReport.sources``): an edit of layers.py shows as model.py's change.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Any

from flopsight import gitrev
from flopsight.cli import EXIT_ERROR, EXIT_OK, EXIT_OVER_BUDGET, CliError, run_analysis
from flopsight.job import AnalysisRequest
from flopsight.report.diff import ModelDelta, percent, render_diff_markdown, totals_of
from flopsight.report.model import FileReport
from flopsight.settings import Settings
from flopsight.source.notebook import build_virtual_module, is_notebook_path, read_ipynb


def _module_text(path: str, raw: str) -> str:
    return build_virtual_module(read_ipynb(raw)).text if is_notebook_path(path) else raw


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings(convention=args.convention)
    if args.python:
        settings = replace(settings, python=args.python)
    if args.timeout is not None:
        if args.timeout <= 0:
            raise CliError(f"--timeout {args.timeout:g}: give a positive number of seconds")
        settings = replace(settings, timeout_seconds=args.timeout)
    return settings


def _split_targets(targets: list[str]) -> tuple[str, list[str]]:
    """REV is the first argument when it is not a file; HEAD otherwise."""
    if targets and not os.path.exists(targets[0]):
        return targets[0], targets[1:]
    return "HEAD", targets


def _has_models(text: str, path: str) -> bool:
    from flopsight.source import analyse_source

    analysis = analyse_source(text, path)
    return analysis.syntax_error is None and any(m.inputs for m in analysis.models)


def _count(
    text: str, path: str, settings: Settings, overlays: dict[str, str] | None = None
) -> FileReport | None:
    if not _has_models(text, path):
        return None
    request = AnalysisRequest(
        text=text,
        path=path,
        root=os.getcwd(),
        convention=settings.convention,
        dims=dict(settings.dims),
        overlays=dict(overlays or {}),
    )
    return run_analysis(request, settings)


def _committed_sources(root: str, commit: str, report: FileReport | None) -> dict[str, str]:
    """The committed text of each workspace file the current count ran (absolute path ->
    text), where it differs from the work tree's: the old version runs with those."""
    out: dict[str, str] = {}
    for rel in report.sources if report else {}:
        path = os.path.abspath(rel)
        then = gitrev.text_at(root, commit, path)
        if then is None:
            continue
        try:
            with open(path, encoding="utf-8", newline="") as f:
                now = f.read()
        except OSError:
            continue
        if then != now:
            out[path] = then
    return out


def _runs_a_changed_file(report: FileReport | None, changed: set[str]) -> bool:
    return report is not None and any(os.path.abspath(rel) in changed for rel in report.sources)


def file_deltas(before: FileReport | None, after: FileReport | None) -> list[ModelDelta]:
    """Every model counted in either version, in the current file's order."""
    names = [m.name for m in (after.models if after else [])]
    names += [m.name for m in (before.models if before else []) if m.name not in names]
    out = []
    for name in names:
        old = next((m for m in before.models if m.name == name), None) if before else None
        new = next((m for m in after.models if m.name == name), None) if after else None
        delta = ModelDelta(name, totals_of(old), totals_of(new))
        if delta.before is not None or delta.after is not None:
            out.append(delta)
    return out


def cmd_diff(args: argparse.Namespace) -> int:
    rev, files = _split_targets(list(args.targets))
    limit = None
    if args.max_increase is not None:
        from flopsight.report.diff import parse_increase

        try:
            limit = parse_increase(args.max_increase)
        except ValueError as e:
            raise CliError(f"--max-increase {args.max_increase!r}: {e}") from None
    root = gitrev.repo_root(files[0] if files else os.getcwd())
    if root is None:
        raise CliError(
            f"{files[0] if files else os.getcwd()}: not in a git repository; run flopsight diff "
            "inside one (it compares with git show REV:FILE)"
        )
    commit = gitrev.resolve(root, rev)
    if commit is None:
        raise CliError(f"{rev}: no such revision in {root}; give a commit, branch or tag")
    for f in files:
        if not os.path.isfile(f):
            raise CliError(f"{f}: no such file; check the path")
    paths = files or gitrev.changed_files(root, commit, (".py", ".ipynb"))
    settings = _settings(args)
    status = EXIT_OK
    shown = 0
    changed = {os.path.abspath(p) for p in paths}
    # Files without changes of their own whose models may run a changed one (checked below).
    others = [] if files else [p for p in gitrev.tracked_files(root) if p not in changed]
    unchanged = set(others)
    for path in [*paths, *others]:
        with open(path, encoding="utf-8") as stream:
            now = _module_text(path, stream.read())
        after = _count(now, path, settings)  # None: no model to count
        if path in unchanged and not _runs_a_changed_file(after, changed):
            continue
        raw_then = gitrev.text_at(root, commit, path)
        then = _module_text(path, raw_then) if raw_then is not None else None
        name = gitrev.relative(root, path)
        old_sources = _committed_sources(root, commit, after)
        # A file new since REV has no old version; an unchanged one is not counted twice.
        if then is None:
            before = None
        elif then == now and not old_sources:
            before = after
        else:
            before = _count(then, path, settings, old_sources)
        for m in after.models if after else []:
            if m.status == "error" and m.error is not None:
                print(f"flopsight: error: {name}: {m.name}: {m.error.message}", file=sys.stderr)
                status = EXIT_ERROR
        deltas = file_deltas(before, after)
        if not deltas:
            continue
        shown += 1
        sys.stdout.write(render_diff_markdown(name, rev, deltas) + "\n")
        for d in deltas:
            grown = _grown_past(d, limit)
            if grown and status == EXIT_OK:
                status = EXIT_OVER_BUDGET
            for what in grown:
                print(f"{name}: {d.name}: {what}", file=sys.stderr)
    if not shown:
        print(f"flopsight: no model's cost differs from {rev} ({commit[:8]})")
    return status


def _grown_past(delta: ModelDelta, limit: float | None) -> list[str]:
    """What grew by more than ``limit`` (a fraction), as messages for stderr."""
    if limit is None or delta.before is None or delta.after is None:
        return []
    out = []
    for unit in ("macs", "params"):
        old, new = getattr(delta.before, unit), getattr(delta.after, unit)
        share = (new - old) / old if old else None
        if share is not None and share > limit:
            label = "MACs" if unit == "macs" else "params"
            out.append(f"{label} grew {percent(share)}, past --max-increase {100 * limit:g} %")
    return out


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Adds ``diff`` to the CLI's subcommands (``sub``: argparse's subparsers action)."""
    diff = sub.add_parser(
        "diff",
        parents=[parent],
        help="each model's cost against a git revision (markdown, for pull requests)",
        description="Count each model now and in REV (default HEAD), print a markdown table per "
        "model; without FILES, the Python files that differ from REV.",
    )
    diff.add_argument("targets", nargs="*", metavar="[REV] [FILES…]")
    diff.add_argument(
        "--convention", choices=("macs", "ptflops"), default="macs", help="as for report"
    )
    diff.add_argument(
        "--max-increase", metavar="P", help="exit 1 when a model grows past P, e.g. 5%%"
    )
    diff.add_argument("--python", metavar="PATH", help="interpreter that runs the models")
    diff.add_argument("--timeout", metavar="S", type=float, help="time limit per file (default 20)")
    diff.set_defaults(func=cmd_diff)
