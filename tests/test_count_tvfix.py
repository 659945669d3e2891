"""The torchvision import fix: `import torchvision` works after it, wherever it is needed.

Each check runs in a fresh interpreter (this test process already applied the fix).
"""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_fix_applies_exactly_when_torchvision_cannot_import_on_its_own() -> None:
    plain = _run("import torchvision")
    fixed = _run(
        "import json\n"
        "from flopsight.counting.tvfix import ensure_torchvision_importable, fix_applied\n"
        "first = ensure_torchvision_importable()\n"
        "import torchvision, torchvision.models\n"
        "again = ensure_torchvision_importable()\n"
        "model = torchvision.models.resnet18(weights=None)\n"
        "from ptflops import get_model_complexity_info\n"
        "print(json.dumps([first, again, fix_applied()]))\n"
    )
    assert fixed.returncode == 0, fixed.stderr
    first, again, applied = json.loads(fixed.stdout.strip().splitlines()[-1])
    needs_fix = plain.returncode != 0
    if needs_fix:
        assert "torchvision::nms does not exist" in plain.stderr
    assert first is needs_fix
    assert applied is needs_fix
    assert again is False  # idempotent, and a no-op once torchvision is imported
