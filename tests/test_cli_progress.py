"""The progress note: only on a terminal, and only once the work outlasts its delay."""

from __future__ import annotations

import io
import threading

import pytest
from flopsight import cli


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_note_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    stream = io.StringIO()
    with cli.progress("counting x.py", stream):
        threading.Event().wait(0.2)
    assert stream.getvalue() == ""


def test_note_shown_then_cleared_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    stream = Terminal()
    shown = threading.Event()
    write = stream.write

    def spy(text: str) -> int:
        shown.set()
        return write(text)

    monkeypatch.setattr(stream, "write", spy)
    with cli.progress("counting x.py", stream):
        assert shown.wait(10)
    assert stream.getvalue() == "flopsight: counting x.py…\r\x1b[K"


def test_no_note_when_the_work_is_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 3600.0)
    stream = Terminal()
    with cli.progress("counting x.py", stream):
        pass
    assert stream.getvalue() == ""
