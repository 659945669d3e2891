"""What a job imports: siblings from the file's folder and packages from the workspace root;
the editor's unsaved buffer is what runs, not the file on disk (issue 3, Must show)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "worker"))

from flopsight.job import AnalysisRequest
from flopsight.worker import WorkerPool
from worker_support import DATA, LINEAR_TEMPLATE, PROJECT, request_for


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=2) as p:
        assert p.wait_ready()
        yield p


def macs_of(pool: WorkerPool, request: AnalysisRequest) -> int:
    report = pool.analyse_blocking(request)
    net = report.model("Net")
    assert net.status == "ok", (net.error, report.warnings)
    assert net.total is not None
    return net.total.macs


def test_sibling_module_from_the_files_folder(pool: WorkerPool) -> None:
    # proj/app/uses_sibling.py: `from helpers import Block`, helpers.py next to it.
    # Conv2d(3, 4, 3, bias=False) on 6x6 -> 4x4: 3 * 3 * 3 (kernel) * 4 (out) * 16 (positions).
    request = request_for("proj/app/uses_sibling.py", root=PROJECT)
    assert macs_of(pool, request) == 3 * 3 * 3 * 4 * 16


def test_package_from_the_workspace_root(pool: WorkerPool) -> None:
    # proj/app/uses_root.py: `from mypkg.blocks import Block` with proj/ as the workspace root.
    # Linear(16, 32) at (1, 16): 16 * 32.
    request = request_for("proj/app/uses_root.py", root=PROJECT)
    assert macs_of(pool, request) == 16 * 32


def test_root_package_is_not_found_without_the_root(pool: WorkerPool) -> None:
    request = request_for("proj/app/uses_root.py", root=DATA / "faults")
    report = pool.analyse_blocking(request)
    assert report.model("Net").status == "error"
    assert any("mypkg" in w.message for w in report.warnings)


# A file inside a package (proj/nets has __init__.py) imports its siblings relatively. The
# decision: it runs as the module `nets.model`, its package's parent folder on sys.path, so
# `from .layers import Block` means proj/nets/layers.py, as `python -m nets.model` would.
def test_relative_import_inside_a_package(pool: WorkerPool) -> None:
    # Linear(8, 24) at (2, 8): 2 rows * 8 * 24.
    request = request_for("proj/nets/model.py", root=PROJECT)
    assert macs_of(pool, request) == 2 * 8 * 24


def test_the_unsaved_buffer_runs_not_the_file_on_disk(pool: WorkerPool) -> None:
    # linear.py on disk holds Linear(8, 4); the buffer says Linear(8, 16): 8 * 16 MACs.
    on_disk = (DATA / "linear.py").read_text()
    assert "nn.Linear(8, 4)" in on_disk
    buffer = LINEAR_TEMPLATE.format(out=16)
    assert macs_of(pool, request_for("linear.py", text=buffer)) == 8 * 16


def test_a_buffer_never_saved_imports_its_siblings(pool: WorkerPool) -> None:
    # An "Untitled" buffer whose path does not exist yet, in proj/app: helpers.py resolves.
    path = PROJECT / "app" / "not_saved_yet.py"
    assert not path.exists()
    text = (PROJECT / "app" / "uses_sibling.py").read_text()
    request = AnalysisRequest(text=text, path=str(path), root=str(PROJECT))
    assert macs_of(pool, request) == 3 * 3 * 3 * 4 * 16


def test_each_job_imports_siblings_afresh(pool: WorkerPool, tmp_path: Path) -> None:
    # The host never keeps a user module: a sibling edited on disk is seen by the next job,
    # and the cached report of the unchanged buffer is not reused.
    (tmp_path / "parts.py").write_text("from torch import nn\nWIDTH = 4\n")
    text = (
        "from torch import nn\nfrom parts import WIDTH\n\n\n"
        "class Net(nn.Module):  # flopsight: input=(1, 8)\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(8, WIDTH)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n"
    )
    request = AnalysisRequest(text=text, path=str(tmp_path / "net.py"), root=str(tmp_path))
    assert macs_of(pool, request) == 8 * 4
    (tmp_path / "parts.py").write_text("from torch import nn\nWIDTH = 12\n")
    assert macs_of(pool, request) == 8 * 12


def test_relative_paths_resolve_from_the_workspace_root(pool: WorkerPool, tmp_path: Path) -> None:
    # The file's code opens "config/width.txt", as it would when run from the workspace root.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "width.txt").write_text("6\n")
    (tmp_path / "models").mkdir()
    text = (
        "from torch import nn\n\nWIDTH = int(open('config/width.txt').read())\n\n\n"
        "class Net(nn.Module):  # flopsight: input=(1, 8)\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(8, WIDTH)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n"
    )
    path = tmp_path / "models" / "net.py"
    request = AnalysisRequest(text=text, path=str(path), root=str(tmp_path))
    assert macs_of(pool, request) == 8 * 6  # Linear(8, 6) at (1, 8)
    # The config is one of the files the report depends on: editing it is a cache miss.
    (tmp_path / "config" / "width.txt").write_text("10\n")
    assert macs_of(pool, request) == 8 * 10
