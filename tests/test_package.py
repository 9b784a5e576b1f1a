"""Packaging promises: a light `import compmech`, a working console entry point."""

import subprocess
import sys

HEAVY = ("flax", "optax", "sklearn", "matplotlib", "transformer")


def test_import_compmech_is_light():
    code = (
        "import sys, compmech, compmech.cli; compmech.cli.build_parser();"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_import_does_not_enable_x64_globally():
    code = "import jax.numpy as jnp, compmech; compmech.sample(compmech.get_process('z1r'), 2, 3, 0); print(jnp.ones(1).dtype)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "float32"


def test_console_script_version():
    out = subprocess.run([sys.executable, "-m", "compmech", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("compmech ")
