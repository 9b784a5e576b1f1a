"""Run a snippet in a fresh Python process that sees two CPU devices (XLA's forced host device
count must be set before JAX starts, so it cannot run in the test process itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


def run_on_two_cpu_devices(script: str, timeout: float = 300):
    """Run ``script`` (dedented) with two CPU devices; returns the JSON its last line prints."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
