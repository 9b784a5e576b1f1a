"""Packaging promises: no global x64, a working console entry point (the light import and the
layering are checked in test_architecture.py)."""

import subprocess
import sys


def test_import_does_not_enable_x64_globally():
    code = "import jax.numpy as jnp, compmech; compmech.sample(compmech.get_process('z1r'), 2, 3, 0); print(jnp.ones(1).dtype)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "float32"


def test_console_script_version():
    out = subprocess.run([sys.executable, "-m", "compmech", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("compmech ")
