"""Frozen configuration dataclasses for the model and for a training run.

``ModelConfig`` uses TransformerLens names; its defaults are the Mess3 model of Shai et al. (2024).
``TrainConfig`` holds everything needed to rebuild a run and round-trips through JSON
(``to_dict`` / ``from_dict``); it is what ``config.json`` in a run directory contains.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from compmech.hmm import Process
from compmech.process_io import process_from_dict
from compmech.processes import get_process
from compmech.records import Record

#: Activation functions the MLP accepts (TransformerLens names).
ACT_FNS = ("relu", "gelu", "gelu_new", "silu")
#: Optimisers :func:`transformer.train` knows.
OPTIMIZERS = ("adamw", "sgd")
#: Devices ``TrainConfig.device`` accepts.
DEVICES = ("cpu", "gpu", "auto")


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _non_negative_float(name: str, value: Any, positive: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a number; got {value!r}") from err
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return value


@dataclass(frozen=True)
class ModelConfig(Record):
    """Shape of a decoder-only transformer (TransformerLens names).

    Pre-LayerNorm blocks ``resid_mid = resid_pre + attn(LN(resid_pre))``,
    ``resid_post = resid_mid + mlp(LN(resid_mid))``, a final LayerNorm, learned positional
    embeddings and causal attention.

    Attributes:
        n_layers: number of blocks.
        d_model: residual-stream width.
        n_heads: attention heads per block.
        d_head: width of each head.
        d_mlp: hidden width of the MLP.
        n_ctx: number of input positions.
        d_vocab: number of input/output tokens, including a BOS token when one is used.
        act_fn: MLP activation, one of :data:`ACT_FNS`.
    """

    #: Registry name of the architecture (``config.json`` stores it as ``model.arch``).
    ARCH: ClassVar[str] = "transformer"

    n_layers: int = 4
    d_model: int = 64
    n_heads: int = 1
    d_head: int = 8
    d_mlp: int = 256
    n_ctx: int = 10
    d_vocab: int = 3
    act_fn: str = "relu"
    arch: str = "transformer"

    def __post_init__(self) -> None:
        if self.arch != self.ARCH:
            raise ValueError(f"{type(self).__name__} is arch {self.ARCH!r}, not {self.arch!r}")
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "n_ctx"):
            _positive_int(name, getattr(self, name))
        _positive_int("d_vocab", self.d_vocab, minimum=2)
        if self.act_fn not in ACT_FNS:
            raise ValueError(f"act_fn must be one of {ACT_FNS}; got {self.act_fn!r}")

    @property
    def num_params(self) -> int:
        """Number of trainable parameters."""
        d, a, m, v, p = self.d_model, self.n_heads * self.d_head, self.d_mlp, self.d_vocab, self.n_ctx
        per_block = 4 * d + (d * 3 * a + 3 * a) + (a * d + d) + (d * m + m) + (m * d + d)
        return v * d + p * d + self.n_layers * per_block + 2 * d + d * v + v

    def flops_per_token(self) -> float:
        """Matmul FLOPs of one forward pass per token (multiply-add = 2), attention included."""
        d, a, m, p = self.d_model, self.n_heads * self.d_head, self.d_mlp, self.n_ctx
        per_block = 2 * d * 3 * a + 2 * a * d + 4 * d * m + 2 * 2 * a * p
        return float(self.n_layers * per_block + 2 * d * self.d_vocab)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (:class:`compmech.records.Record`), with ``"arch"`` first."""
        return {"arch": self.arch, **super().to_dict()}

    def replace(self, **changes) -> ModelConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LinearBottleneckConfig(ModelConfig):
    """The transformer of :class:`ModelConfig` with a linear bottleneck after its last block.

    ``z = resid_post_last W_down + b_down`` (``bottleneck_width`` numbers per position), then
    ``logits = LN(z W_up + b_up) W_out + b_out``: everything the network predicts passes through
    ``z`` (the model's own final LayerNorm and unembedding are unused).

    Attributes:
        bottleneck_width: the width of ``z``.
    """

    ARCH: ClassVar[str] = "linear_bottleneck"

    arch: str = "linear_bottleneck"
    bottleneck_width: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_int("bottleneck_width", self.bottleneck_width)

    @property
    def num_params(self) -> int:
        """Number of trainable parameters (the unused final LayerNorm and unembedding included)."""
        d, w, v = self.d_model, self.bottleneck_width, self.d_vocab
        return super().num_params + (d * w + w) + (w * d + d) + 2 * d + (d * v + v)

    def flops_per_token(self) -> float:
        """Matmul FLOPs of one forward pass per token (the unused unembedding left out)."""
        d, w, v = self.d_model, self.bottleneck_width, self.d_vocab
        return super().flops_per_token() - 2 * d * v + 2 * (d * w + w * d + d * v)


@dataclass(frozen=True)
class RecurrentConfig(Record):
    """Shape of a stacked recurrent network (:mod:`transformer.recurrent`); defaults: 4 layers of
    width 64, as in Riechers, Elliott & Shai (2025).

    Use a subclass (:class:`LSTMConfig`, :class:`GRUConfig`, :class:`RNNConfig`) or
    :func:`recurrent_config`; each has its ``ARCH``.

    Attributes:
        n_layers: number of stacked recurrent layers.
        d_hidden: width of every layer's hidden state (and of the token embedding).
        n_ctx: number of input positions (the network itself has no limit; evaluation, probes and
            the data use it).
        d_vocab: number of input/output tokens, including a BOS token when one is used.
    """

    #: Registry name of the architecture (``model.arch`` in ``config.json``); set by subclasses.
    ARCH: ClassVar[str] = ""
    #: Gates per cell: the recurrent matrices are ``(d_hidden, GATES * d_hidden)``.
    GATES: ClassVar[int] = 1

    n_layers: int = 4
    d_hidden: int = 64
    n_ctx: int = 10
    d_vocab: int = 3
    arch: str = ""

    def __post_init__(self) -> None:
        if not self.ARCH:
            raise ValueError("RecurrentConfig is abstract; use LSTMConfig, GRUConfig, RNNConfig "
                             "or recurrent_config(arch, ...)")
        if self.arch != self.ARCH:
            raise ValueError(f"{type(self).__name__} is arch {self.ARCH!r}, not {self.arch!r}")
        for name in ("n_layers", "d_hidden", "n_ctx"):
            _positive_int(name, getattr(self, name))
        _positive_int("d_vocab", self.d_vocab, minimum=2)

    @property
    def num_params(self) -> int:
        """Number of trainable parameters."""
        H, G, V = self.d_hidden, self.GATES, self.d_vocab
        per_layer = 2 * H * G * H + G * H + (H if self.arch == "gru" else 0)
        return V * H + self.n_layers * per_layer + H * V + V

    def flops_per_token(self) -> float:
        """Matmul FLOPs of one forward pass per token (multiply-add = 2)."""
        H, G = self.d_hidden, self.GATES
        return float(self.n_layers * 2 * 2 * H * G * H + 2 * H * self.d_vocab)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (:class:`compmech.records.Record`), with ``"arch"`` first."""
        return {"arch": self.arch, **super().to_dict()}

    def replace(self, **changes) -> RecurrentConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LSTMConfig(RecurrentConfig):
    """A stacked LSTM (see :class:`RecurrentConfig`)."""

    ARCH: ClassVar[str] = "lstm"
    GATES: ClassVar[int] = 4
    arch: str = "lstm"


@dataclass(frozen=True)
class GRUConfig(RecurrentConfig):
    """A stacked GRU (see :class:`RecurrentConfig`)."""

    ARCH: ClassVar[str] = "gru"
    GATES: ClassVar[int] = 3
    arch: str = "gru"


@dataclass(frozen=True)
class RNNConfig(RecurrentConfig):
    """A stacked vanilla (Elman, tanh) RNN (see :class:`RecurrentConfig`)."""

    ARCH: ClassVar[str] = "rnn"
    GATES: ClassVar[int] = 1
    arch: str = "rnn"


#: The recurrent architectures, by name.
RECURRENT_CONFIGS: dict[str, type] = {cls.ARCH: cls for cls in (LSTMConfig, GRUConfig, RNNConfig)}
#: Model config classes by architecture name (``config.json``'s ``model.arch``).
MODEL_CONFIGS: dict[str, type] = {cls.ARCH: cls for cls in (ModelConfig, LinearBottleneckConfig)}
MODEL_CONFIGS.update(RECURRENT_CONFIGS)


def recurrent_config(arch: str, **fields) -> RecurrentConfig:
    """The recurrent config of ``arch`` (``"lstm"``, ``"gru"`` or ``"rnn"``) with ``fields``."""
    if arch not in RECURRENT_CONFIGS:
        raise ValueError(f"unknown recurrent arch {arch!r}; valid: {', '.join(RECURRENT_CONFIGS)}")
    return RECURRENT_CONFIGS[arch](**fields)


def model_config_from_dict(data: Mapping[str, Any]):
    """The model config described by ``data`` (a ``to_dict()`` of any registered architecture).

    A dict without ``"arch"`` is a transformer :class:`ModelConfig` (run directories written before
    architectures were registered).
    """
    if not isinstance(data, Mapping):
        raise ValueError("model config must be a JSON object")
    arch = data.get("arch", "transformer")
    if arch not in MODEL_CONFIGS:
        raise ValueError(f"unknown model arch {arch!r}; valid: {', '.join(MODEL_CONFIGS)}")
    return MODEL_CONFIGS[arch].from_dict(data)


@dataclass(frozen=True)
class TrainConfig(Record):
    """Everything needed to rebuild a training run.

    The data are sequences of ``n_ctx + 1`` tokens (``n_ctx`` with ``bos``, which prepends a BOS
    token of id ``V``) drawn fresh every step from the process's stationary start, or rows of a fixed
    ``dataset`` file written by ``compmech generate``.

    Attributes:
        process: catalogue name of the process (ignored when ``hmm`` is given).
        process_params: parameters of the catalogue process.
        hmm: an inline process as a dict (:meth:`compmech.HMM.to_dict` or
            :meth:`compmech.GHMM.to_dict` format, or a mixture/product spec), or ``None``.
        model: the model config (:class:`ModelConfig` for the transformer, a
            :class:`RecurrentConfig` for ``lstm``/``gru``/``rnn``, or another registered
            architecture's, see :data:`MODEL_CONFIGS`). Its ``d_vocab`` must be ``V`` (``V + 1``
            with ``bos``).
        steps: number of optimiser steps.
        batch_size: global batch (sequences per step, split over devices). 1024 gave the lowest
            Mess3 probe error in a 2-minute budget (256, 2048 and 4096 were worse); see docs/training.md.
        lr: peak learning rate.
        optimizer: ``"adamw"`` (linear warmup then cosine decay to ``lr * final_lr_fraction``) or
            ``"sgd"`` (constant ``lr``, like the paper).
        warmup_steps: linear-warmup steps of the AdamW schedule.
        final_lr_fraction: the cosine ends at ``lr * final_lr_fraction``.
        weight_decay: AdamW decoupled weight decay, applied to matrices only.
        b1, b2: Adam moment decay rates.
        momentum: SGD momentum (0 = plain SGD).
        grad_clip: clip gradients to this global norm (0 disables clipping).
        seed: seed for the initialisation and the data.
        bos: prepend a BOS token (id ``V``) to every sequence.
        dataset: path of an ``.npz`` from ``compmech generate`` to train on instead of fresh samples.
        eval_every: exact evaluation every this many steps (and at step 0 and at the end).
        eval_max_words: enumerate all words when ``V**n_words`` is at most this; else evaluate on
            ``eval_samples`` sampled sequences (a fixed set).
        eval_samples: size of the sampled evaluation set.
        log_every: write a training-loss line to ``metrics.jsonl`` every this many steps.
        checkpoints_per_decade: density of the log-spaced checkpoint schedule (plus step 0, the
            end, and every ``checkpoint_every`` steps).
        checkpoint_every: also checkpoint every this many steps (0 = only log-spaced).
        steps_per_call: optimiser steps fused in one compiled call (``lax.scan``); results do not
            depend on it.
        micro_batch_size: sequences per gradient micro-batch (0 = automatic, about 5120 tokens per
            device, which bounds activation memory); the step's gradient is the mean
            over the whole batch either way.
        minutes: if set, a wall-clock budget: ``steps`` is fixed after warmup from the measured speed
            so that training ends within the budget (the chosen value is written to config.json);
            if the machine then slows down, training stops early at a log step, evaluated and
            checkpointed (its metrics line has ``"stopped_by_budget": true``).
        device: ``"auto"`` (default: a GPU when JAX sees one, else the CPU), ``"cpu"`` or
            ``"gpu"``.
        num_devices: data-parallel over the first this many devices of that platform (0 = all).
        device_used: written by :func:`transformer.train`: the platform the run trained on
            (``"cpu"``, ``"gpu"``, ...) and the device count, e.g. ``"gpu x1"``; not an input
            (whatever a config file holds here is replaced).
    """

    process: str = "mess3"
    process_params: Mapping[str, Any] = field(default_factory=dict)
    hmm: Mapping[str, Any] | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 1_200
    batch_size: int = 1024
    lr: float = 3e-3
    optimizer: str = "adamw"
    warmup_steps: int = 200
    final_lr_fraction: float = 0.01
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.99
    momentum: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    bos: bool = False
    dataset: str | None = None
    eval_every: int = 1000
    eval_max_words: int = 200_000
    eval_samples: int = 100_000
    log_every: int = 100
    checkpoints_per_decade: int = 8
    checkpoint_every: int = 0
    steps_per_call: int = 50
    micro_batch_size: int = 0
    minutes: float | None = None
    device: str = "auto"
    num_devices: int = 0
    device_used: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, tuple(MODEL_CONFIGS.values())):
            raise ValueError(f"model must be a model config ({', '.join(MODEL_CONFIGS)}); got "
                             f"{type(self.model).__name__}")
        for name in ("steps", "batch_size", "eval_every", "log_every", "steps_per_call",
                     "eval_max_words", "eval_samples", "checkpoints_per_decade"):
            _positive_int(name, getattr(self, name))
        for name in ("warmup_steps", "checkpoint_every", "seed", "micro_batch_size",
                     "num_devices"):
            _positive_int(name, getattr(self, name), minimum=0)
        _non_negative_float("lr", self.lr, positive=True)
        for name in ("weight_decay", "momentum", "grad_clip", "final_lr_fraction", "b1", "b2"):
            _non_negative_float(name, getattr(self, name))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}; got {self.device!r}")
        if self.minutes is not None:
            _non_negative_float("minutes", self.minutes, positive=True)
        object.__setattr__(self, "process_params", dict(self.process_params))
        if self.hmm is not None:
            object.__setattr__(self, "hmm", dict(self.hmm))

    @property
    def seq_len(self) -> int:
        """Length of the sampled process words per training sequence (``n_ctx + 1``, or ``n_ctx``
        with BOS)."""
        return self.model.n_ctx if self.bos else self.model.n_ctx + 1

    @property
    def tokens_per_step(self) -> int:
        """Predicted tokens per optimiser step, ``batch_size * n_ctx``."""
        return self.batch_size * self.model.n_ctx

    def build_hmm(self) -> Process:
        """The process this run trains on (a :class:`compmech.HMM` or :class:`compmech.GHMM`)."""
        if self.hmm is not None:
            return process_from_dict(self.hmm, source="TrainConfig.hmm")
        return get_process(self.process, **self.process_params)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (:class:`compmech.records.Record`), the model with its ``"arch"``."""
        return {**super().to_dict(), "model": self.model.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (:meth:`compmech.records.Record.from_dict`: missing keys take
        their defaults, unknown keys are errors); the model's class is read from its ``"arch"``."""
        if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
            data = {**data, "model": model_config_from_dict(data["model"])}
        return super().from_dict(data)


__all__ = ["ACT_FNS", "DEVICES", "MODEL_CONFIGS", "OPTIMIZERS", "RECURRENT_CONFIGS", "GRUConfig",
           "LSTMConfig", "LinearBottleneckConfig", "ModelConfig", "RNNConfig", "RecurrentConfig",
           "TrainConfig", "model_config_from_dict", "recurrent_config"]
