"""Reading a run directory written by :func:`transformer.train` back."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from compmech.files import FileLock, directory_lock
from compmech.hmm import HMM
from transformer import registry
from transformer.config import TrainConfig
from transformer.data import with_bos
from transformer.rundir import EnsembleDirectory, MetricsRecord, RunDirectory, params_path


class Run:
    """A training run on disk.

    Attributes:
        run_dir: the directory.
        config: the :class:`TrainConfig` from ``config.json``.
        model_config: ``config.model`` (any registered architecture's config).
        hmm: the :class:`compmech.HMM` trained on.
        checkpoint_steps: sorted steps with saved parameters, starting with 0 (the initialisation).
        metrics: the records of ``metrics.jsonl`` (see :func:`transformer.train`).

    Example:
        >>> run = transformer.load_run("runs/mess3")                      # doctest: +SKIP
        >>> params = run.load_params()                                    # last checkpoint
        >>> acts = transformer.collect_activations(params, run.model_config,
        ...                                        run.model_inputs(words))  # doctest: +SKIP
    """

    def __init__(self, run_dir) -> None:
        self.run_dir = Path(run_dir)
        self.files = RunDirectory(self.run_dir, writer=False)
        self.config = self.files.read_config()
        self.model_config = self.config.model

    @cached_property
    def hmm(self) -> HMM:
        return self.config.build_hmm()

    @property
    def checkpoint_steps(self) -> list[int]:
        return self.files.checkpoint_steps()

    def lock(self, purpose: str) -> FileLock:
        """The run directory's exclusive writer lock, for a process that writes into the run
        (probe, figures); refused with :class:`compmech.files.LockBusy` while training runs."""
        return directory_lock(self.run_dir, purpose, "run directory")

    @property
    def metrics(self) -> list[dict]:
        return self.files.read_metrics()

    @property
    def records(self) -> list[MetricsRecord]:
        """The records of ``metrics.jsonl``, typed."""
        return [MetricsRecord.from_dict(m) for m in self.metrics]

    @property
    def evaluations(self) -> list[MetricsRecord]:
        """The records that hold an evaluation, in step order."""
        return [m for m in self.records if m.is_eval]

    @property
    def training_wall_time(self) -> float | None:
        """Seconds of training (cumulative over resumes) at the last metrics record, or None."""
        times = [m.wall_time for m in self.records if m.wall_time is not None]
        return float(times[-1]) if times else None

    # hook names of this run's architecture (see transformer.registry)
    def hook_names(self) -> list[str]:
        return registry.hook_names(self.model_config)

    def residual_hooks(self) -> list[str]:
        return registry.residual_hooks(self.model_config)

    def probe_hooks(self) -> list[str]:
        return registry.probe_hooks(self.model_config)

    def last_hook(self) -> str:
        return registry.last_hook(self.model_config)

    def hook_widths(self) -> dict[str, int]:
        return registry.hook_widths(self.model_config)

    @property
    def bos_token(self) -> int | None:
        """The BOS id (``V``) when the run prepends one, else ``None``."""
        return self.hmm.vocab_size if self.config.bos else None

    def model_inputs(self, words) -> np.ndarray:
        """Process words ``(N, n)`` as model inputs: with BOS prepended when the run uses one.

        Without BOS, input position ``t`` (0-based) holds the belief after ``words[:, :t+1]``;
        with BOS, position ``t + 1`` does (position 0 is the BOS token, the initial belief).
        """
        words = np.asarray(words)
        return words if self.bos_token is None else with_bos(words, self.bos_token)

    def tokens_seen(self, step: int) -> int:
        """Training tokens (predicted positions) seen after ``step`` steps:
        ``step * batch_size * n_ctx``."""
        return int(step) * self.config.tokens_per_step

    def load_params(self, step: int | None = None):
        """Parameters at ``step`` (the last checkpoint when ``None``), as a JAX pytree.

        Raises:
            ValueError: no checkpoint at that step.
        """
        steps = self.checkpoint_steps
        if not steps:
            raise ValueError(f"{self.run_dir} has no checkpoints")
        if step is None:
            step = steps[-1]
        if step not in steps:
            raise ValueError(f"no checkpoint at step {step} in {self.run_dir}; available: "
                             f"{steps[:5]}{'...' if len(steps) > 5 else ''}{steps[-1:]}")
        data = self.files.read_params_bytes(step)
        try:
            params = serialization.from_bytes(self._params_template, data)
        except Exception as err:  # msgpack's ValueError subclasses, or a tree that does not fit
            path = params_path(self.run_dir, step)
            raise ValueError(f"checkpoint {path} is damaged or does not fit this run's model "
                             f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                             f"; {len(data):,} bytes); delete that file (the other checkpoints "
                             "stay usable) or retrain the run") from err
        return jax.tree_util.tree_map(jnp.asarray, params)

    @cached_property
    def _params_template(self):
        """The parameter tree checkpoints are read into: its structure only (shapes and dtypes from
        ``jax.eval_shape``; ``serialization.from_bytes`` takes every leaf from the file), so the
        model's initialiser is traced once and never compiled nor run (compiling it cost ~4 s of
        CPU per probe)."""
        return jax.eval_shape(lambda: registry.init_params(self.model_config, 0))

    def __repr__(self) -> str:
        return (f"Run({str(self.run_dir)!r}, process={self.hmm.name}, "
                f"checkpoints={len(self.checkpoint_steps)})")


def load_run(run_dir) -> Run:
    """Open a run directory written by :func:`transformer.train`."""
    return Run(run_dir)


class Ensemble:
    """A seed ensemble on disk (written by :func:`transformer.train_ensemble`): one ordinary
    :class:`Run` per member.

    Attributes:
        path: the ensemble directory.
        seeds: the members' seeds.
        members: one :class:`Run` per seed (``path/seed-{s}``).
        config: the base config of the manifest (the first member's seed).

    Examples:
        >>> ens = transformer.load_ensemble("runs/ens")                   # doctest: +SKIP
        >>> [run.metrics[-1]["loss_gap"] for run in ens.members]          # doctest: +SKIP
    """

    def __init__(self, path) -> None:
        self.path = Path(path)
        files = EnsembleDirectory(self.path, writer=False)
        self.seeds = files.seeds
        self.config = TrainConfig.from_dict(files.read_manifest()["config"])
        self.members = [Run(member.path) for member in files.members]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self):
        return iter(self.members)

    def __repr__(self) -> str:
        return f"Ensemble({str(self.path)!r}, seeds={self.seeds})"


def load_ensemble(path) -> Ensemble:
    """Open an ensemble directory written by :func:`transformer.train_ensemble`.

    Raises:
        ValueError: ``path`` has no ``ensemble.json``, or a member is not a run directory.
    """
    return Ensemble(path)


__all__ = ["Ensemble", "Run", "load_ensemble", "load_run"]
