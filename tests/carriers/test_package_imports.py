"""The carriers package re-exports nothing: importing the boundary or one carrier does
not import the others (each name has one home, its module)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_boundary_imports_no_carrier() -> None:
    code = (
        "import sys, trebuchet.server.carriers.base; "
        "print(sorted(m for m in sys.modules if m.startswith('trebuchet.server.carriers')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "trebuchet.server.carriers.sandbox" not in loaded
    assert "trebuchet.server.carriers.base" in loaded
