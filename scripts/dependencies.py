"""Which parts of Trebuchet import which: the arrows of docs/architecture.md, measured.

Usage: ``python scripts/dependencies.py [--modules]``

Reads every module under ``src/trebuchet`` with :mod:`ast` (nothing is imported or run),
including imports inside functions and under ``TYPE_CHECKING``.  A part is a package
under ``trebuchet.server`` (``api``, ``engine``, ...), a module beside them (``config``,
``serving``, ...), ``cli``, or ``sdk`` for ``trebuchet`` itself and its ``_modules``.
Prints each arrow with how many imports make it, then the pairs of parts that import
each other (two-way arrows), with ``--modules`` naming the modules on each side.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str | None:
    names = module.split(".")
    if names[0] != "trebuchet":
        return None
    if len(names) == 1 or names[1].startswith("_"):
        return "sdk"
    if names[1] == "cli":
        return "cli"
    if names[1] == "server":
        return names[2] if len(names) > 2 else "server"
    return names[1]


def imported(path: Path, module: str) -> set[str]:
    """Absolute names of the modules (or module attributes) ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_of(name: str) -> str:
    """``name`` if it is a module, else the module it is an attribute of."""
    path = SRC.joinpath(*name.split("."))
    if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
        return name
    return name.rpartition(".")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="name the modules of each pair")
    show_modules = parser.parse_args().modules
    arrows: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for path in sorted((SRC / "trebuchet").rglob("*.py")):
        source = module_name(path)
        here = part_of(source)
        for target in imported(path, source):
            there = part_of(target)
            if here is None or there is None or here == there:
                continue
            arrows[here, there].add((source, module_of(target)))
    print("arrows (importer -> imported: imports)")
    for (here, there), uses in sorted(arrows.items()):
        print(f"  {here} -> {there}: {len(uses)}")
    pairs = sorted({tuple(sorted(key)) for key in arrows if key[::-1] in arrows})
    print(f"two-way pairs: {len(pairs)}")
    for first, second in pairs:
        print(f"  {first} <-> {second}")
        if show_modules:
            for here, there in ((first, second), (second, first)):
                for source, target in sorted(arrows[here, there]):
                    print(f"      {source} -> {target}")


if __name__ == "__main__":
    main()
