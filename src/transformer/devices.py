"""Devices to train on, and multi-host initialisation (``jax.distributed``)."""

from __future__ import annotations

import os

import jax


def maybe_initialize_distributed() -> bool:
    """Call ``jax.distributed.initialize`` when ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``
    and ``JAX_PROCESS_ID`` are set (multi-host data parallelism). Returns whether it did."""
    addr = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not addr:
        return False
    try:
        num = int(os.environ["JAX_NUM_PROCESSES"])
        pid = int(os.environ["JAX_PROCESS_ID"])
    except (KeyError, ValueError) as err:
        raise ValueError("JAX_COORDINATOR_ADDRESS is set, so JAX_NUM_PROCESSES and JAX_PROCESS_ID "
                         "must be set to integers too") from err
    if not getattr(maybe_initialize_distributed, "_done", False):
        jax.distributed.initialize(coordinator_address=addr, num_processes=num, process_id=pid)
        maybe_initialize_distributed._done = True
    return True


def select_devices(device: str, num_devices: int = 0) -> list:
    """The devices to train on: all (or the first ``num_devices``) devices of the platform."""
    devices = _platform_devices(device)
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f"num_devices {num_devices} but JAX sees only {len(devices)} "
                             f"{devices[0].platform} device(s)")
        devices = devices[:num_devices]
    return devices


def _platform_devices(device: str) -> list:
    if device == "auto":
        return jax.devices()
    try:
        devices = jax.devices(device)
    except RuntimeError as err:
        raise ValueError(f"--device {device}: JAX sees no {device.upper()} ({err}); "
                         "use --device cpu or auto") from err
    if not devices:
        raise ValueError(f"--device {device}: JAX sees no {device.upper()}")
    return devices


__all__ = ["maybe_initialize_distributed", "select_devices"]
