"""The layers of the source tree, one per stage: theory (``compmech/*.py``) <- models
(``transformer``) <- ``compmech.probing`` <- ``compmech.mechanisms`` <- ``compmech.figures`` <-
``compmech.experiments`` <- ``compmech.cli``. Read from the import graph (imports inside
functions included), so that the rules hold for every file, and checked to fail on planted faults.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from import_graph import LAYERS, cycles, heavy_imports, import_graph, layer, upward_imports

SRC = Path(__file__).resolve().parents[1] / "src"
#: Third-party packages that `import compmech` (the theory layer) must not need.
HEAVY = ("flax", "optax", "sklearn", "matplotlib", "orbax", "PIL")


@pytest.fixture(scope="module")
def graph():
    return import_graph(SRC)


def test_every_file_has_a_layer(graph):
    modules, _ = graph
    assert {layer(m) for m in modules} == set(LAYERS)
    assert layer("compmech.probing.run") == "probing" and layer("transformer.step") == "models"
    assert layer("compmech.mechanisms.attention") == "mechanisms"
    assert layer("compmech.figures.run") == "figures"
    assert layer("compmech.experiments.runner") == "experiments"
    assert layer("compmech.cli.train") == "cli" and layer("compmech.msp") == "theory"
    assert layer("compmech") == "theory" and layer("compmech.__main__") == "cli"


def test_the_pipeline_package_is_gone(graph):
    modules, _ = graph
    assert not [m for m in modules if m.startswith("compmech.pipeline")]


def test_no_file_imports_a_layer_above_it(graph):
    _, edges = graph
    bad = [f"{e.source}:{e.line} imports {e.target} ({layer(e.source)} -> {layer(e.target)})"
           for e in upward_imports(edges)]
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_files(graph):
    modules, edges = graph
    assert cycles(modules, edges) == []


def test_our_modules_are_imported_inside_functions_only_by_the_cli(graph):
    """The CLI imports the stages and the models when a command runs (they pull in flax and
    matplotlib, and `compmech --help` must stay fast); nobody else needs function-level imports."""
    _, edges = graph
    inner = [f"{e.source}:{e.line} -> {e.target}" for e in edges
             if e.inner and layer(e.source) != "cli"]
    assert not inner, "\n".join(inner)


def test_theory_needs_no_heavy_dependency(graph):
    modules, _ = graph
    assert heavy_imports(SRC, modules, HEAVY) == []


def test_import_compmech_and_the_cli_parser_stay_light():
    code = ("import sys, compmech, compmech.cli, compmech.probing.linear, compmech.datasets; "
            "compmech.cli.build_parser(); "
            f"print([m for m in {HEAVY + ('transformer',)!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# ------------------------------------------------------------------ the checks can fail
def _tree(tmp_path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_a_planted_cycle_is_found_even_inside_a_function(tmp_path):
    root = _tree(tmp_path, {
        "compmech/__init__.py": "",
        "compmech/a.py": "from compmech import b\n",
        "compmech/b.py": "def f():\n    from compmech.c import g\n",
        "compmech/c.py": "import compmech.a\n",
        "compmech/d.py": "from compmech.a import x\n",
    })
    modules, edges = import_graph(root)
    assert cycles(modules, edges) == [["compmech.a", "compmech.b", "compmech.c"]]
    assert [e.target for e in edges if e.inner] == ["compmech.c"]


def test_a_planted_upward_import_is_found(tmp_path):
    root = _tree(tmp_path, {
        "compmech/__init__.py": "",
        "compmech/hmm.py": "def f():\n    import transformer.model\n",
        "compmech/probing/__init__.py": "",
        "compmech/probing/run.py": "from ..cli import main\nfrom compmech import hmm\n",
        "compmech/probing/data.py": "from compmech.mechanisms.attention import x\n",
        "compmech/mechanisms/__init__.py": "",
        "compmech/mechanisms/attention.py": "from compmech.probing import run\nimport compmech.figures.run\n",
        "compmech/figures/__init__.py": "",
        "compmech/figures/run.py": "from compmech.experiments import runner\nfrom compmech.probing import data\n",
        "compmech/experiments/__init__.py": "",
        "compmech/experiments/runner.py": "from compmech.figures.run import f\nfrom compmech import cli\n",
        "compmech/cli/__init__.py": "def main():\n    from compmech.experiments import runner\n",
        "transformer/__init__.py": "",
        "transformer/model.py": "from compmech.probing import run\nimport flax\n",
    })
    modules, edges = import_graph(root)
    found = sorted((e.source, e.target) for e in upward_imports(edges))
    assert found == [("compmech.experiments.runner", "compmech.cli"),
                     ("compmech.figures.run", "compmech.experiments.runner"),
                     ("compmech.hmm", "transformer.model"),
                     ("compmech.mechanisms.attention", "compmech.figures.run"),
                     ("compmech.probing.data", "compmech.mechanisms.attention"),
                     ("compmech.probing.run", "compmech.cli"),
                     ("transformer.model", "compmech.probing.run")]
    assert heavy_imports(root, modules, ("flax",)) == []  # flax in a model file is fine
    (root / "compmech" / "hmm.py").write_text("import flax.linen as nn\n")
    assert heavy_imports(root, modules, ("flax",)) == [("compmech.hmm", "flax", 1)]
