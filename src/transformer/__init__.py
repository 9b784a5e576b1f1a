"""Models whose activations can be probed for beliefs: a registry of JAX/Flax architectures (the
paper's decoder-only transformer, its linear-bottleneck variant, stacked LSTMs, GRUs and tanh RNNs),
one training loop for all of them, run directories and activation collection.

The package is named ``transformer`` for the paper's model, but it holds every trainable model the
project probes, the recurrent ones included: it is the models layer (``compmech`` theory below it,
the ``compmech`` stages above it). Hooks of every architecture are labelled by one helper,
:func:`transformer.registry.hook_label`.

Example:
    >>> import transformer
    >>> cfg = transformer.ModelConfig()            # the paper's Mess3 model
    >>> params = transformer.init_params(cfg, 0)
    >>> logits, cache = transformer.run_with_cache(params, cfg, [[0, 1, 2]])
    >>> cache["blocks.3.hook_resid_post"].shape
    (1, 3, 64)

Training: ``transformer.train(TrainConfig(...), "runs/x")``; reading a run back:
``transformer.load_run("runs/x")``.
"""

from transformer.activations import collect_activations
from transformer.config import (
    GRUConfig,
    LinearBottleneckConfig,
    LSTMConfig,
    ModelConfig,
    RecurrentConfig,
    RNNConfig,
    TrainConfig,
    model_config_from_dict,
    recurrent_config,
)
from transformer.data import EvalSet, build_eval_set, with_bos
from transformer.loop import EnsembleResult, TrainingDiverged, TrainingInterrupted, TrainResult
from transformer.registry import (
    ARCHITECTURES,
    attention_patterns,
    forward,
    hook_label,
    hook_names,
    init_params,
    last_hook,
    patch_hooks,
    probe_hooks,
    residual_hooks,
    run_with_cache,
    run_with_patches,
    token_losses,
)
from transformer.runs import Ensemble, Run, load_ensemble, load_run
from transformer.training import sweep_grid, train, train_ensemble

__all__ = [
    "ARCHITECTURES",
    "Ensemble",
    "EnsembleResult",
    "EvalSet",
    "GRUConfig",
    "LSTMConfig",
    "LinearBottleneckConfig",
    "ModelConfig",
    "RNNConfig",
    "RecurrentConfig",
    "Run",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "attention_patterns",
    "build_eval_set",
    "collect_activations",
    "forward",
    "hook_label",
    "hook_names",
    "init_params",
    "last_hook",
    "load_ensemble",
    "load_run",
    "model_config_from_dict",
    "recurrent_config",
    "patch_hooks",
    "probe_hooks",
    "residual_hooks",
    "run_with_cache",
    "run_with_patches",
    "sweep_grid",
    "token_losses",
    "train",
    "train_ensemble",
    "with_bos",
]
