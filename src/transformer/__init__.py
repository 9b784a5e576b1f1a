"""A small JAX/Flax decoder-only transformer whose residual stream can be probed for beliefs.

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
from transformer.config import ModelConfig, TrainConfig
from transformer.data import EvalSet, build_eval_set, with_bos
from transformer.model import forward, hook_names, init_params, run_with_cache, token_losses
from transformer.runs import Run, load_run
from transformer.training import TrainingDiverged, TrainResult, train

__all__ = [
    "EvalSet",
    "ModelConfig",
    "Run",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_eval_set",
    "collect_activations",
    "forward",
    "hook_names",
    "init_params",
    "load_run",
    "run_with_cache",
    "token_losses",
    "train",
    "with_bos",
]
