"""The JupyterLab extension ships prebuilt in the wheel, is not stale, and JupyterLab enables it."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "client" / "jupyterlab"
NAME = "flopsight-jupyterlab"
DATA = f"share/jupyter/labextensions/{NAME}"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("flopsight-*.whl")
    return found


def _data_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        prefix = next(n for n in archive.namelist() if ".data/data/" in n).split("/data/")[0]
        return {
            name.removeprefix(prefix + "/data/"): archive.read(name)
            for name in archive.namelist()
            if name.startswith(prefix + "/data/")
        }


def test_the_wheel_carries_the_built_extension_that_its_package_json_loads(wheel: Path) -> None:
    files = _data_files(wheel)
    meta = json.loads(files[f"{DATA}/package.json"])
    assert meta["name"] == NAME
    assert meta["version"] == json.loads((CLIENT / "package.json").read_text())["version"]
    # The federated entry point JupyterLab loads, and the chunks it names, are all in the wheel.
    entry = files[f"{DATA}/{meta['jupyterlab']['_build']['load']}"]
    statics = {n.rsplit("/", 1)[1] for n in files if n.startswith(f"{DATA}/static/")}
    chunk_names = {
        p.name for p in (CLIENT / "labextension" / "static").iterdir() if p.name.endswith(".js")
    }
    assert chunk_names <= statics
    assert b"flopsight-jupyterlab" in entry
    schema = json.loads(files[f"{DATA}/schemas/{NAME}/plugin.json"])
    assert set(schema["properties"]) == {"inlayHints", "codeLens", "quickFixes", "statusBar"}
    install = json.loads(files[f"{DATA}/install.json"])
    assert install == {
        "packageManager": "python",
        "packageName": "flopsight",
        "uninstallInstructions": install["uninstallInstructions"],
    }


def test_the_committed_build_matches_its_sources() -> None:
    stamp = runpy.run_path(str(CLIENT / "stamp.py"))
    recorded = (CLIENT / "labextension.sha256").read_text().strip()
    assert recorded == stamp["inputs_hash"](), (
        "client/jupyterlab/labextension is stale: run `make labextension` and commit it"
    )


def test_the_stamp_changes_when_a_source_changes(tmp_path: Path) -> None:
    stamp = runpy.run_path(str(CLIENT / "stamp.py"))
    copy = tmp_path / "jl"
    for name in stamp["INPUTS"]:
        src = CLIENT / name
        dst = copy / name
        if src.is_dir():
            for file in src.rglob("*"):
                if file.is_file():
                    (dst / file.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                    (dst / file.relative_to(src)).write_bytes(file.read_bytes())
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    before = stamp["inputs_hash"](copy)
    assert before == stamp["inputs_hash"]()
    index = copy / "src" / "index.ts"
    index.write_text(index.read_text() + "\n// edited\n")
    assert stamp["inputs_hash"](copy) != before


def test_jupyterlab_lists_the_installed_extension_enabled(wheel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    subprocess.run(
        # --ignore-installed: the dev environment's editable flopsight would satisfy it.
        [
            *PIP,
            "install",
            "--no-deps",
            "--ignore-installed",
            "-q",
            "--prefix",
            str(prefix),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter")}
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    output = listed.stdout + listed.stderr
    line = next((row for row in output.splitlines() if NAME in row), "")
    assert "enabled" in line and "OK" in line and "(python, flopsight)" in line, output
