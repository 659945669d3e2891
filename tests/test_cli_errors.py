"""Every bad input is one line on stderr, ``flopsight: error: ...``, exit status 2, no traceback."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from flopsight.cli import main

ROOT = Path(__file__).parent.parent
DATA = ROOT / "tests" / "data" / "runner"
MLP = str(ROOT / "examples" / "seed_mlp.py")
TWO = str(DATA / "two_inputs.py")


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("flopsight: error: ")
    return lines[0].removeprefix("flopsight: error: ")


def test_file_that_does_not_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from torch import nn\n\n\nclass Net(nn.Module:  # flopsight: input=(1, 8)\n")
    message = error_of(capsys, ["report", str(bad)])
    assert message.startswith(f"{bad}:4:20: FS101 ")
    assert "fix the syntax" in message


def test_model_that_raises_names_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "shape_mismatch.py")
    message = error_of(capsys, ["report", path, "--model", "Broken"])
    assert message.startswith(f"{path}:16: FS202 Broken: RuntimeError: ")
    assert "model at line 7" in message


def test_model_that_raises_in_its_constructor(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "shape_mismatch.py")
    message = error_of(capsys, ["report", path, "--model", "Fails"])
    assert message == (
        f"{path}:22: FS201 Fails: ValueError: width 4 is not supported "
        "(while building it; model at line 19)"
    )


@pytest.mark.parametrize("shape", ["1,a", "(1, 2.5)", "", "1,-3", "[[1]]"])
def test_bad_input_shape(shape: str, capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["report", MLP, "--input", shape])
    assert message.startswith(f"--input {shape!r}: not a shape")
    assert "--input 1,3,224,224" in message


def test_input_naming_no_forward_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["report", TWO, "--model", "Pair", "--input", "z=1,3"])
    assert message == "--input z=...: Pair.forward has no parameter 'z' (it takes x, y)"


def test_input_without_model_when_several(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["report", TWO, "--input", "1,5"])
    assert "defines 2 models" in message and "--model NAME" in message
    assert "Pair, Plain" in message


def test_unknown_model_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["report", TWO, "--model", "Nope"])
    assert message == f"{TWO}: no model named 'Nope'; known models: Pair, Plain"


def test_model_without_input_shape(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["report", TWO, "--model", "Plain"])
    # The suggested pragma comes from the first layer, nn.Linear(5, 7).
    assert message.startswith(
        f"{TWO}:15: Plain has no input shape; add `# flopsight: input=(1, 5)`"
    )


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.py")
    assert error_of(capsys, ["report", missing]) == f"{missing}: no such file; check the path"


def test_file_without_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("x = 1\n")
    assert "no nn.Module class or model instance found" in error_of(capsys, ["report", str(plain)])


def test_bad_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["report", MLP, "--dtype", "float7"])
    assert message.startswith("--dtype 'float7': not a torch dtype")


def test_unresolved_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "symbolic.py")
    message = error_of(capsys, ["report", path])
    assert message == (
        f"{path}:5: FS105 Seq: UnresolvedDimension: dimension 'seq' of Seq has no value; give it "
        "a value in the pragma's dims= or with --dim NAME=N"
    )
    assert main(["report", path, "--dim", "seq=4"]) == 0


def test_bad_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", MLP, "--convention", "gflops"]) == 2
    assert "flopsight: error: argument --convention" in capsys.readouterr().err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", TWO, "--model", "Nope", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "flopsight: error: " in err


def test_torch_not_installed(tmp_path: Path) -> None:
    # An interpreter without site-packages: the same Python, started with -S, has no torch.
    python = tmp_path / "python-without-torch"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != "FLOPSIGHT_IN_PROCESS"}
    done = subprocess.run(
        [sys.executable, "-m", "flopsight", "report", MLP, "--python", str(python)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    # The pool's words, the setting named as its flag (no layer rewrites another's message).
    assert done.stderr.strip().splitlines() == [
        f"flopsight: error: the worker cannot run models with {python}: ModuleNotFoundError: "
        "No module named 'torch'; point --python to a Python interpreter that has torch installed"
    ]


def test_serve_rejects_a_bad_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--tcp", "localhost"]) == 2
    assert capsys.readouterr().err.strip() == (
        "flopsight: error: --tcp 'localhost': write HOST:PORT, e.g. --tcp 127.0.0.1:2087"
    )


def test_malformed_pragma(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "typo.py"
    path.write_text(
        "from torch import nn\n\n\n"
        "class Net(nn.Module):  # flopsight: inptu=(1, 8)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    message = error_of(capsys, ["report", str(path), "--model", "Net", "--input", "1,8"])
    # Column 37 (1-based) is where the key starts: `class Net(nn.Module):  # flopsight: ` is 36.
    assert message.startswith(f"{path}:4:37: FS103 ")
    assert "inptu" in message and "input" in message


# ----------------------------------------------------------------------------- edge cases
# (issue 18, case 9: each of these failed before: a hang, an unbounded read, a message for a
# server that retries, a negative depth accepted, a blank line before the error.)


def _run_cli(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, capped: 2 GiB of address space and ``timeout`` seconds."""

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**os.environ, "FLOPSIGHT_IN_PROCESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "flopsight", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=cap,
    )


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flopsight: error: "), done.stderr
    return lines[0].removeprefix("flopsight: error: ")


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    message = _one_error(_run_cli(["report", str(fifo)], timeout=30))
    assert message == (
        f"{fifo}: not a regular file (a named pipe); give the Python file or notebook that "
        "defines the model"
    )


def test_a_device_is_refused_without_reading_it() -> None:
    message = _one_error(_run_cli(["report", "/dev/zero"], timeout=30))
    assert message.startswith("/dev/zero: not a regular file (a character device)")


def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    from flopsight.cli import MAX_FILE_BYTES

    big = tmp_path / "big.py"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    message = _one_error(_run_cli(["report", str(big)], timeout=30))
    assert message == (
        f"{big}: larger than 16 MiB, the most flopsight reads; give the file that defines the model"
    )


def test_an_interpreter_that_is_not_python_says_so_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # /bin/false starts and exits at once: a one-shot run must not say "try again shortly".
    monkeypatch.delenv("FLOPSIGHT_IN_PROCESS")
    message = error_of(capsys, ["report", MLP, "--python", "/bin/false"])
    assert message == (
        "the worker cannot run models with /bin/false: it exited with status 1 before it was "
        "ready; point --python to a Python interpreter that has torch installed"
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--depth", "-1"], "--depth -1: give 0 (the model only) or more levels"),
        (
            ["--timeout", "2.2e6"],
            "--timeout 2.2e+06: give a number of seconds above 0 and at most 86400 (a day)",
        ),
        (["--timeout", "nan"], "--timeout nan: give a number of seconds above 0"),
        (["--timeout", "0"], "--timeout 0: give a number of seconds above 0"),
        (
            ["--memory-mb", str(1 << 50)],
            f"--memory-mb {1 << 50}: give a number of megabytes above 0 and at most 16777216",
        ),
        (["--memory-mb", "0"], "--memory-mb 0: give a number of megabytes above 0"),
    ],
)
def test_out_of_range_flags(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert error_of(capsys, ["report", MLP, *flags]).startswith(expected)


def test_annotate_min_share_is_a_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, ["annotate", MLP, "--min-share", "101"])
    assert message == "--min-share 101: give a percentage from 0 to 100"


def test_a_model_error_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "shape_mismatch.py")
    assert main(["report", path, "--model", "Broken"]) == 2
    out = capsys.readouterr().out
    assert out == ""  # before: a lone blank line, then the error on stderr
