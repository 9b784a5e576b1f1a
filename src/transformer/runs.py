"""Reading a run directory written by :func:`transformer.train` back."""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from transformer.config import ModelConfig, TrainConfig
from transformer.data import with_bos
from transformer.model import init_params
from transformer.training import CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE, params_path

_PARAMS_RE = re.compile(r"^params_(\d{8})\.msgpack$")


class Run:
    """A training run on disk.

    Attributes:
        run_dir: the directory.
        config: the :class:`TrainConfig` from ``config.json``.
        model_config: ``config.model``.
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
        config_path = self.run_dir / CONFIG_FILE
        if not config_path.is_file():
            raise ValueError(f"{self.run_dir} is not a run directory (no {CONFIG_FILE})")
        try:
            self.config = TrainConfig.from_dict(json.loads(config_path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{config_path} is not valid JSON: {err.msg}") from err
        self.model_config: ModelConfig = self.config.model

    @cached_property
    def hmm(self):
        return self.config.build_hmm()

    @property
    def checkpoint_steps(self) -> list[int]:
        folder = self.run_dir / CHECKPOINT_DIR
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for f in folder.iterdir()
                      if (m := _PARAMS_RE.match(f.name)))

    @property
    def metrics(self) -> list[dict]:
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

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
        template = init_params(self.model_config, 0)
        data = params_path(self.run_dir, step).read_bytes()
        params = serialization.from_bytes(template, data)
        return jax.tree_util.tree_map(jnp.asarray, params)

    def __repr__(self) -> str:
        return (f"Run({str(self.run_dir)!r}, process={self.hmm.name}, "
                f"checkpoints={len(self.checkpoint_steps)})")


def load_run(run_dir) -> Run:
    """Open a run directory written by :func:`transformer.train`."""
    return Run(run_dir)


__all__ = ["Run", "load_run"]
