"""Count string-keyed reads in ``src/``: subscripts by a string literal that read (``d["mse"]``;
assignments ``d["mse"] = x`` are counted apart, as writes) and ``.get("...")`` calls with a
string-literal first argument, from the AST of every file (comments and docstrings do not count;
f-strings are not literals).

Issue 22 asks for at most 150 reads (439 when it was filed; 456 at commit e2d21cb, before the
stage packages): stages hand each other typed results, not dicts.

Usage::

    python benchmarks/count_string_keys.py [--top 15] [--root src]

Prints the total, the split into subscripts and ``.get`` calls, and the files with the most.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def string_keys(tree: ast.AST) -> tuple[int, int, int]:
    """``(subscript reads, get calls, subscript writes)`` with a string-literal key in ``tree``."""
    subscripts = gets = writes = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_str(node.slice):
            if isinstance(node.ctx, ast.Load):
                subscripts += 1
            else:
                writes += 1
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and node.args and _is_str(node.args[0])):
            gets += 1
    return subscripts, gets, writes


def count(root: Path) -> dict[str, tuple[int, int, int]]:
    """``{path relative to root's parent: (reads, gets, writes)}`` for every ``.py`` file under
    ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        out[str(path.relative_to(root.parent))] = string_keys(ast.parse(path.read_text(), str(path)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT / "src"), help="folder to scan (default: src)")
    parser.add_argument("--top", type=int, default=15, help="files listed (default: 15)")
    args = parser.parse_args(argv)
    counts = count(Path(args.root))
    subs = sum(c[0] for c in counts.values())
    gets = sum(c[1] for c in counts.values())
    writes = sum(c[2] for c in counts.values())
    print(f"string-literal key reads in {args.root}: {subs + gets} ({subs} subscripts, {gets} .get "
          f"calls; besides, {writes} subscript writes) in {len(counts)} files")
    per_file = Counter({path: s + g for path, (s, g, _) in counts.items()})
    for path, n in per_file.most_common(args.top):
        if n:
            print(f"{n:5d}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
