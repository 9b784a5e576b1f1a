"""The run directory: every file a training run writes, and reading them back.

Layout::

    config.json                             TrainConfig.to_dict()
    metrics.jsonl                           one JSON object per logged step, in step order
    checkpoints/params_{step:08d}.msgpack   parameters at each scheduled step (step 0 = init)
    checkpoints/train_state.msgpack         latest full state (params, optimiser, step) for resume

Every file is written atomically (:mod:`compmech.files`). On a multi-host run only process 0
writes: a :class:`RunDirectory` opened with ``writer=False`` reads but never writes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from flax import serialization

from compmech.files import atomic_write_bytes, atomic_write_text
from transformer.config import TrainConfig

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "train_state.msgpack"
_PARAMS_RE = re.compile(r"^params_(\d{8})\.msgpack$")


def params_path(run_dir, step: int) -> Path:
    """``RUN_DIR/checkpoints/params_{step:08d}.msgpack``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"params_{int(step):08d}.msgpack"


class RunDirectory:
    """The files of one run directory.

    Args:
        path: the directory.
        writer: whether this process writes (``False`` on every multi-host process but 0: each
            write method then does nothing).
    """

    def __init__(self, path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = bool(writer)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def state_path(self) -> Path:
        return self.checkpoint_dir / STATE_FILE

    # ------------------------------------------------------------------------------- reading
    def read_config(self) -> TrainConfig:
        """The saved :class:`TrainConfig`.

        Raises:
            ValueError: no ``config.json``, or not valid JSON.
        """
        if not self.config_path.is_file():
            raise ValueError(f"{self.path} is not a run directory (no {CONFIG_FILE})")
        try:
            return TrainConfig.from_dict(json.loads(self.config_path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.config_path} is not valid JSON: {err.msg}") from err

    def resumable_config(self) -> TrainConfig:
        """The saved config of a run that can be resumed (it has a train state).

        Raises:
            ValueError: no ``config.json``, no train state, or an unreadable config.
        """
        if not self.config_path.exists():
            raise ValueError(f"cannot resume: {self.config_path} does not exist")
        if not self.state_path.exists():
            raise ValueError(f"cannot resume: {self.path} has no {CHECKPOINT_DIR}/{STATE_FILE}")
        try:
            return self.read_config()
        except ValueError as err:
            raise ValueError(f"cannot resume: {err}") from err

    def read_metrics(self) -> list[dict]:
        """The records of ``metrics.jsonl`` (``[]`` when there is none)."""
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines()
                if line.strip()]

    def last_eval(self) -> dict | None:
        """The last metrics record with an evaluation, or ``None``."""
        evals = [r for r in self.read_metrics() if "eval_loss" in r]
        return evals[-1] if evals else None

    def checkpoint_steps(self) -> list[int]:
        """Sorted steps with saved parameters (step 0 is the initialisation)."""
        if not self.checkpoint_dir.is_dir():
            return []
        return sorted(int(m.group(1)) for f in self.checkpoint_dir.iterdir()
                      if (m := _PARAMS_RE.match(f.name)))

    def read_params_bytes(self, step: int) -> bytes:
        """The msgpack bytes of the parameters saved at ``step``."""
        return params_path(self.path, step).read_bytes()

    def read_state(self) -> dict[str, Any]:
        """The saved train-state blob (see :meth:`write_state`)."""
        return serialization.msgpack_restore(self.state_path.read_bytes())

    # ------------------------------------------------------------------------------- writing
    def prepare(self, config: TrainConfig, *, resume: bool, force: bool) -> None:
        """Make the directory ready for a new run (or leave it as it is to resume).

        Raises:
            FileExistsError: the directory exists, is not empty, and neither ``resume`` nor
                ``force`` is given.
            ValueError: ``force`` on a non-empty folder that is not a run directory.
        """
        if resume or not self.writer:
            return
        if self.path.exists() and any(self.path.iterdir()):
            if not force:
                raise FileExistsError(f"run directory {self.path} already exists; pass --resume to "
                                      "continue it or --force to start over")
            if not self.config_path.exists() and not self.metrics_path.exists():
                raise ValueError(f"{self.path} is not empty and does not look like a run directory; "
                                 "refusing to delete it")
            shutil.rmtree(self.path)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.write_config(config)

    def write_config(self, config: TrainConfig) -> None:
        if self.writer:
            atomic_write_text(self.config_path, config.to_json() + "\n")

    def append_metrics(self, record: dict) -> None:
        """Append one record (one line) to ``metrics.jsonl``."""
        if self.writer:
            with open(self.metrics_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def truncate_metrics(self, last_step: int) -> None:
        """Drop the records after ``last_step`` (a resume continues from there)."""
        if not self.writer or not self.metrics_path.exists():
            return
        keep = [json.dumps(r) for r in self.read_metrics() if r["step"] <= last_step]
        atomic_write_text(self.metrics_path, "".join(line + "\n" for line in keep))

    def write_params(self, step: int, params) -> None:
        """Save host parameters (a numpy pytree) as the checkpoint of ``step``."""
        if self.writer:
            atomic_write_bytes(params_path(self.path, step), serialization.to_bytes(params),
                               sync=False)

    def write_state(self, blob: dict[str, Any]) -> None:
        """Save the resume state: ``{"state": state dict, "wall_time", "steps", "steps_fixed"}``."""
        if self.writer:
            atomic_write_bytes(self.state_path, serialization.msgpack_serialize(blob))


__all__ = ["CHECKPOINT_DIR", "CONFIG_FILE", "METRICS_FILE", "RunDirectory", "STATE_FILE",
           "params_path"]
