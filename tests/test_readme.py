"""The README documents every diagnostic code and every setting users can change."""

from __future__ import annotations

from pathlib import Path

from flopsight.codes import CODES
from flopsight.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_diagnostic_code_is_listed_in_the_readme() -> None:
    missing = [code for code in CODES if f"`{code}`" not in README]
    assert not missing, f"add these codes to the README's Diagnostics table: {missing}"


def _keys(section: dict[str, object], prefix: str = "flopsight") -> list[str]:
    keys = []
    for key, value in section.items():
        if isinstance(value, dict) and key != "dims":
            keys += _keys(value, f"{prefix}.{key}")
        else:
            keys.append(f"{prefix}.{key}")
    return keys


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [k for k in _keys(Settings().to_lsp()) if f"`{k}`" not in README]
    assert not missing, f"document these settings in the README: {missing}"
