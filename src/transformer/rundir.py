"""The run directory: every file a training run writes, and reading them back.

Layout::

    config.json                             TrainConfig.to_dict()
    metrics.jsonl                           one JSON object per logged step, in step order
    checkpoints/params_{step:08d}.msgpack   parameters at each scheduled step (step 0 = init)
    checkpoints/train_state.msgpack         latest full state (params, optimiser, step) for resume

Every file is written atomically (:mod:`compmech.files`), and ``metrics.jsonl`` one whole line per
``write``; a reader that meets a torn last line (a hard kill or power loss mid-write) ignores it with
a warning. A run directory has one writer at a time (:meth:`RunDirectory.lock`, an ``flock`` the
kernel releases when the process dies). On a multi-host run only process 0 writes: a
:class:`RunDirectory` opened with ``writer=False`` reads but never writes.

A seed ensemble (:func:`transformer.train_ensemble`) is a folder of ordinary run directories, one
per member, and a manifest (:class:`EnsembleDirectory`)::

    ensemble.json                           {"seeds": [...], "members": ["seed-0", ...], "config"}
    ensemble_state.msgpack                  every member's state in one file (the resume point)
    seed-{s}/                               member with seed s: a run directory as above
                                            (a process sweep's: e.g. x=0.05_alpha=0.85_seed-0/)
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flax import serialization

from compmech.files import (
    LOCK_FILE,
    FileLock,
    append_line,
    atomic_write_bytes,
    atomic_write_text,
    directory_lock,
    is_empty_folder,
)
from compmech.records import Record
from transformer.config import TrainConfig

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "train_state.msgpack"
_PARAMS_RE = re.compile(r"^params_(\d{8})\.msgpack$")


def params_path(run_dir, step: int) -> Path:
    """``RUN_DIR/checkpoints/params_{step:08d}.msgpack``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"params_{int(step):08d}.msgpack"



@dataclass(frozen=True)
class MetricsRecord(Record):
    """One line of ``metrics.jsonl`` (see :func:`transformer.train`): every log step has
    ``step``, ``tokens_seen``, ``wall_time`` (s, cumulative), ``lr`` and ``train_loss``;
    evaluation lines add the ``eval_*`` fields (per-position lists ``(n_ctx,)`` in nats), a mixture
    the ``component_*`` curves; the last line of a stopped run says why."""

    step: int
    tokens_seen: int | None = None
    wall_time: float | None = None
    lr: float | None = None
    train_loss: float | None = None
    eval_loss: list[float] | None = None
    optimal_loss: list[float] | None = None
    eval_loss_mean: float | None = None
    optimal_loss_mean: float | None = None
    loss_gap: float | None = None
    relative_loss: float | None = None
    eval_exact: bool | None = None
    eval_seconds: float | None = None
    component_names: list[str] | None = None
    component_eval_loss: list[list[float]] | None = None
    component_optimal_loss: list[list[float]] | None = None
    component_bayes_loss: list[list[float]] | None = None
    stopped_by_budget: bool | None = None
    diverged: bool | None = None
    interrupted: str | None = None

    @property
    def is_eval(self) -> bool:
        """Whether this line holds an evaluation."""
        return self.eval_loss is not None

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
            raise ValueError(f"{self.config_path} is not valid JSON ({err.msg}): the run's config is "
                             "damaged; restore it from a copy, or start the run over with "
                             f"`compmech train --out {self.path} --force`") from err

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
        """The records of ``metrics.jsonl`` (``[]`` when there is none).

        A torn last line (the process was killed while appending it) is left out with a warning.

        Raises:
            ValueError: a line other than the last is not valid JSON (the file is corrupt).
        """
        if not self.metrics_path.exists():
            return []
        text = self.metrics_path.read_text()
        lines = [line for line in text.split("\n") if line.strip()]
        records = []
        for k, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                if k == len(lines) - 1 and not text.endswith("\n"):
                    warnings.warn(f"{self.metrics_path}: ignoring a torn last line (the writer was "
                                  "stopped while appending it)", stacklevel=2)
                    break
                raise ValueError(f"{self.metrics_path} line {k + 1} is not valid JSON "
                                 f"({err.msg}): the file is corrupt; delete that line (its "
                                 "record is lost), or start the run over with `compmech train "
                                 f"--out {self.path} --force`") from err
        return records

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
        """The saved train-state blob (see :meth:`write_state`).

        Raises:
            ValueError: the file is damaged (e.g. truncated), naming it and the remedy.
        """
        return read_state_file(self.state_path, self.path)

    # ------------------------------------------------------------------------------- writing
    def lock(self, purpose: str) -> FileLock:
        """The exclusive writer lock of this run directory (``with run_dir.lock("compmech
        train"): ...``); a second writer gets :class:`compmech.files.LockBusy` naming this one's
        pid. A no-op lock for a non-writer."""
        if not self.writer:
            return _NoLock()
        return directory_lock(self.path, purpose, "run directory")

    def prepare(self, config: TrainConfig, *, resume: bool, force: bool) -> None:
        """Make the directory ready for a new run (or leave it as it is to resume).

        Raises:
            FileExistsError: the directory exists, is not empty, and neither ``resume`` nor
                ``force`` is given.
            ValueError: ``force`` on a non-empty folder that is not a run directory.
        """
        if resume or not self.writer:
            return
        if not is_empty_folder(self.path):
            if not force:
                raise FileExistsError(f"run directory {self.path} already exists; pass --resume to "
                                      "continue it or --force to start over")
            if not self.config_path.exists() and not self.metrics_path.exists():
                raise ValueError(f"{self.path} is not empty and does not look like a run directory; "
                                 "refusing to delete it")
            for child in self.path.iterdir():  # everything but the lock this process holds
                if child.name != LOCK_FILE:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.write_config(config)

    def write_config(self, config: TrainConfig) -> None:
        if self.writer:
            atomic_write_text(self.config_path, config.to_json() + "\n")

    def append_metrics(self, record: dict) -> None:
        """Append one record (one line, one ``write``) to ``metrics.jsonl``."""
        if self.writer:
            append_line(self.metrics_path, json.dumps(record))

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
        """Save the resume state: ``{"state": state dict, "wall_time", "steps", "steps_fixed",
        "record", "checkpoint"}`` (``record``: the metrics line of that step, written after the
        state; ``checkpoint``: whether a parameter checkpoint belongs to that step)."""
        if self.writer:
            atomic_write_bytes(self.state_path, serialization.msgpack_serialize(blob))


ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_STATE_FILE = "ensemble_state.msgpack"


def read_state_file(path: Path, run_dir: Path) -> dict[str, Any]:
    """The msgpack blob of a resume state at ``path`` (of the run or ensemble ``run_dir``).

    Raises:
        ValueError: the file cannot be decoded or holds no ``state``: one line naming the file,
            the decoder's complaint and the remedy (``--force`` starts the run over).
    """
    data = path.read_bytes()
    try:
        blob = serialization.msgpack_restore(data)
    except Exception as err:  # msgpack raises ValueError subclasses, and others on garbage
        blob, problem = None, f"{type(err).__name__}: {err}"
    else:
        problem = None if isinstance(blob, dict) and "state" in blob else "no saved state in it"
    if problem is not None:
        raise ValueError(f"cannot resume: the resume state {path} is damaged ({problem}; "
                         f"{len(data):,} bytes); delete it and start over with `compmech train "
                         f"--out {run_dir} --force` (this deletes the run's checkpoints), or "
                         "restore the file from a copy")
    return blob


def member_name(seed: int, params: dict | None = None) -> str:
    """The folder of the ensemble member with ``seed``: ``seed-{seed}``; in a process sweep
    prefixed by the member's swept parameters, ``x=0.05_alpha=0.85_seed-0``."""
    prefix = "".join(f"{k}={v}_" for k, v in (params or {}).items())
    name = f"{prefix}seed-{int(seed)}"
    if "/" in name or name.startswith("."):
        raise ValueError(f"cannot name an ensemble member folder {name!r}")
    return name


def is_ensemble(path) -> bool:
    """Whether ``path`` holds an ensemble manifest (``ensemble.json``)."""
    return (Path(path) / ENSEMBLE_FILE).is_file()


class EnsembleDirectory:
    """The folder of a seed ensemble: its manifest, its joint resume state, and one
    :class:`RunDirectory` per member (``seed-{s}``).

    Args:
        path: the folder.
        seeds: the members' seeds (``None``: read them and the names from the manifest).
        names: the members' folder names (default ``seed-{s}``).
        writer: as for :class:`RunDirectory`.
    """

    def __init__(self, path, seeds=None, names=None, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = bool(writer)
        if seeds is None:
            manifest = self.read_manifest()
            seeds, names = manifest["seeds"], manifest["members"]
        self.seeds = [int(s) for s in seeds]
        names = [member_name(s) for s in self.seeds] if names is None else list(names)
        if len(names) != len(self.seeds) or len(set(names)) < len(names):
            raise ValueError(f"ensemble members need distinct names, one per seed; got {names}")
        self.members = [RunDirectory(self.path / n, writer=writer) for n in names]

    @property
    def manifest_path(self) -> Path:
        return self.path / ENSEMBLE_FILE

    @property
    def state_path(self) -> Path:
        return self.path / ENSEMBLE_STATE_FILE

    def read_manifest(self) -> dict[str, Any]:
        """``ensemble.json``: ``{"seeds", "members", "config"}``.

        Raises:
            ValueError: no manifest, or not valid JSON.
        """
        if not self.manifest_path.is_file():
            raise ValueError(f"{self.path} is not an ensemble directory (no {ENSEMBLE_FILE})")
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.manifest_path} is not valid JSON ({err.msg}): the ensemble's "
                             "manifest is damaged; restore it from a copy, or start the ensemble "
                             f"over with `compmech train --out {self.path} --force`") from err

    def resumable_config(self) -> TrainConfig:
        """The ensemble's base config (member 0's seed), when it has a joint train state.

        Raises:
            ValueError: no manifest or no ``ensemble_state.msgpack``.
        """
        if not self.state_path.exists():
            raise ValueError(f"cannot resume: {self.path} has no {ENSEMBLE_STATE_FILE}")
        return TrainConfig.from_dict(self.read_manifest()["config"])

    def read_state(self) -> dict[str, Any]:
        """The saved joint train state of every member (see :meth:`write_state`).

        Raises:
            ValueError: the file is damaged (e.g. truncated), naming it and the remedy.
        """
        return read_state_file(self.state_path, self.path)

    def lock(self, purpose: str) -> FileLock:
        if not self.writer:
            return _NoLock()
        return directory_lock(self.path, purpose, "ensemble directory")

    def member_configs(self) -> list[TrainConfig]:
        """Each member's saved config (what a resume trains)."""
        return [member.read_config() for member in self.members]

    def prepare(self, config: TrainConfig, *, resume: bool, force: bool,
                member_configs=None) -> None:
        """Make the folder and every member ready for a new ensemble (nothing to do to resume);
        member ``i`` gets ``member_configs[i]`` (default: ``config`` with the member's seed).

        Raises:
            FileExistsError: the folder is not empty and neither ``resume`` nor ``force``.
            ValueError: ``force`` on a non-empty folder that is not an ensemble directory.
        """
        if resume or not self.writer:
            return
        if not is_empty_folder(self.path):
            if not force:
                raise FileExistsError(f"ensemble directory {self.path} already exists; pass "
                                      "--resume to continue it or --force to start over")
            if not self.manifest_path.exists():
                raise ValueError(f"{self.path} is not empty and is not an ensemble directory; "
                                 "refusing to delete it")
            for child in self.path.iterdir():
                if child.name != LOCK_FILE:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_manifest(config)
        if member_configs is None:
            member_configs = [config.replace(seed=s) for s in self.seeds]
        for member, member_config in zip(self.members, member_configs, strict=True):
            member.prepare(member_config, resume=False, force=False)

    def write_manifest(self, config: TrainConfig) -> None:
        if self.writer:
            atomic_write_text(self.manifest_path, json.dumps(
                {"seeds": self.seeds, "members": [m.path.name for m in self.members],
                 "config": config.to_dict()}, indent=1) + "\n")

    def write_state(self, blob: dict[str, Any]) -> None:
        """The joint resume state: ``{"state": stacked state dict, "wall_time", "steps",
        "steps_fixed", "records": [per member], "checkpoint"}``."""
        if self.writer:
            atomic_write_bytes(self.state_path, serialization.msgpack_serialize(blob))


class _NoLock:
    """What a non-writer holds instead of a lock."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


__all__ = ["CHECKPOINT_DIR", "CONFIG_FILE", "ENSEMBLE_FILE", "ENSEMBLE_STATE_FILE", "METRICS_FILE",
           "EnsembleDirectory", "MetricsRecord", "RunDirectory", "STATE_FILE", "is_ensemble", "member_name",
           "params_path"]
