"""The measured shape targets of issue 22, held by tests: no file in ``src/`` over 600 lines, no
function with more than 8 parameters (options travel in typed configs). The counters themselves
are checked on planted code, so that a broken counter cannot pass."""

from __future__ import annotations

import ast
from pathlib import Path

from scripts import load_script

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 600
MAX_PARAMETERS = 8


def _counter():
    return load_script("benchmarks/count_parameters.py")


def test_no_source_file_is_longer_than_600_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_no_function_has_more_than_8_parameters():
    rows = _counter().wide_functions(SRC, MAX_PARAMETERS)
    assert not rows, "\n".join(f"{n} {path}:{line} {name}" for n, path, name, line in rows)


def test_the_parameter_counter_counts_what_it_should(tmp_path):
    count = _counter().parameter_count
    tree = ast.parse("def f(a, /, b, *c, d, e=1, **g): pass\n"
                     "class K:\n    def m(self, a, b): pass\n    @classmethod\n"
                     "    def n(cls, *, a): pass\n")
    f, m, n = (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))
    assert (count(f), count(m), count(n)) == (6, 2, 1)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "wide.py").write_text("def wide(a, b, c, d, e, f, g, h, i): pass\n")
    rows = _counter().wide_functions(tmp_path / "pkg", MAX_PARAMETERS)
    assert [(n, name) for n, _, name, _ in rows] == [(9, "wide")]
