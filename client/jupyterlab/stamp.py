"""The hash of the extension's sources, recorded beside the committed build (labextension/).

    python3 stamp.py write   # after `make labextension`: records the hash of what was built
    python3 stamp.py check   # exit 1 when the sources changed since (run `make labextension`)

tests/test_jupyterlab_package.py checks the same hash, so a stale prebuilt extension fails CI.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAMP = HERE / "labextension.sha256"
INPUTS = ["package.json", "package-lock.json", "tsconfig.json", "src", "style", "schema"]


def inputs_hash(root: Path = HERE) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            # Line endings normalised: a Windows checkout builds the same extension.
            digest.update(file.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    if argv[1:] == ["write"]:
        STAMP.write_text(inputs_hash() + "\n", encoding="utf-8")
        return 0
    if argv[1:] == ["check"]:
        recorded = STAMP.read_text(encoding="utf-8").strip() if STAMP.exists() else ""
        if recorded != inputs_hash():
            print(
                f"{HERE / 'labextension'} is stale: its sources changed since it was built; "
                "run `make labextension` and commit the result",
                file=sys.stderr,
            )
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
