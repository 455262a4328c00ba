"""The server may import three SDK modules, all standard library only: the signature,
the version and the list of message properties.  The ``server-sdk`` import contract
(pyproject.toml) forbids every other SDK module; this checks that it names them all,
so a new SDK module is forbidden to the server until it is let through on purpose."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "src" / "trebuchet"
SERVER_MAY_IMPORT = {"trebuchet._signature", "trebuchet._version", "trebuchet._message_fields"}


def _sdk_modules() -> set[str]:
    modules = {f"trebuchet.{path.stem}" for path in SDK.glob("_*.py")}
    modules.discard("trebuchet.__init__")
    return modules | {"trebuchet"}


def test_the_contract_forbids_every_other_sdk_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["id"] == "server-sdk"]
    assert set(contract["forbidden_modules"]) == _sdk_modules() - SERVER_MAY_IMPORT


def test_the_modules_the_server_may_import_use_the_standard_library_only() -> None:
    for name in SERVER_MAY_IMPORT:
        tree = ast.parse((SDK / f"{name.removeprefix('trebuchet.')}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module is not None, name
                root = node.module.split(".")[0]
            elif isinstance(node, ast.Import):
                root = node.names[0].name.split(".")[0]
            else:
                continue
            assert root == "__future__" or root in sys.stdlib_module_names, (name, root)
