"""Count the functions in ``src/`` with more than ``--limit`` parameters (default 8), from the AST
of every file: positional, keyword-only and positional-only parameters, ``*args`` and ``**kwargs``
one each, ``self``/``cls`` not counted.

Issue 22 asks for "at most a few functions with more than 8 parameters (configs carry options)":
37 at commit deb8f18 (largest: ``probe_run``'s internals 18 and 17, ``run_heads`` 17,
``ahead_effects`` 16); 0 after the options moved into typed configs (``ProbeConfig``,
``InterventionConfig``, ``HeadsConfig``, ``ComparisonConfig``, ...).

Usage::

    python benchmarks/count_parameters.py [--limit 8] [--root src]

Prints every such function (parameters, file, name, line) and the total.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters of a function definition (``self``/``cls`` of a method not counted)."""
    a = node.args
    count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
    count += (a.vararg is not None) + (a.kwarg is not None)
    first = (a.posonlyargs + a.args)[:1]
    if first and first[0].arg in ("self", "cls"):
        count -= 1
    return count


def wide_functions(root: Path, limit: int) -> list[tuple[int, str, str, int]]:
    """``(parameters, file, name, line)`` of every function with more than ``limit``."""
    rows = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = parameter_count(node)
                if n > limit:
                    rows.append((n, str(path.relative_to(root.parent)), node.name, node.lineno))
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--root", default=str(ROOT / "src"))
    args = parser.parse_args()
    rows = wide_functions(Path(args.root), args.limit)
    for n, path, name, line in rows:
        print(f"{n:3d}  {path}:{line}  {name}")
    print(f"functions in {args.root} with more than {args.limit} parameters: {len(rows)}")


if __name__ == "__main__":
    main()
