"""The import contracts of docs/architecture.md hold (``lint-imports``, configured in
pyproject.toml), and they cover every module of the SDK."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_every_import_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_sdk_contract_names_every_sdk_module() -> None:
    modules = (SRC / "trebuchet").glob("_*.py")
    sdk = {f"trebuchet.{path.stem}" for path in modules if path.stem != "__init__"}
    sdk.add("trebuchet")
    assert set(_contracts()["sdk"]["source_modules"]) == sdk  # type: ignore[arg-type]
