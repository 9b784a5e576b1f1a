"""What one probe of a run computes: :class:`ProbeConfig`, the options of
:func:`compmech.probing.run.probe_run` (and of every stage that probes runs: ensembles,
experiments, reproductions), validated once where they are made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compmech.probing.curve import CURVE_WORDS
from compmech.probing.data import DEFAULT_DECODERS, SPLITS
from compmech.probing.decoders import DECODERS
from compmech.probing.inputs import WEIGHTINGS
from compmech.probing.linear import MAX_ENUMERATED_POINTS
from compmech.records import Record

#: Nonlinear decoders the probe can fit beside the linear probe (the linear one is the probe).
PROBE_DECODERS = tuple(d for d in DECODERS if d != "linear")


def _whole(value, minimum: int) -> bool:
    """``value`` is an integer (not a bool) ``>= minimum``."""
    try:
        return not isinstance(value, bool) and int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):
        return False


@dataclass(frozen=True, kw_only=True)
class ProbeConfig(Record):
    """Options of a probe (every default is the paper's protocol with every extra on).

    Attributes:
        checkpoints: ``"all"``, ``"last"`` (the initialisation and the last step) or an integer
            ``N >= 2`` (``N`` log-spaced checkpoints) for the curve over training.
        hooks: hooks probed at the last checkpoint (names of :func:`transformer.hook_names` or
            ``"concat"``); ``None``: :func:`~compmech.probing.data.layer_hooks`.
        headline: the hook of the summary and the curve; ``None``: the model's
            :func:`transformer.last_hook` (for the transformer: the paper's).
        seed: seed of the folds, the shuffle control, the random features and the subsamples.
        split: ``"20/80"`` (the paper's: train on 20% of sequences), ``"80/20"``, or ``"auto"``:
            20/80 unless the training side would have fewer than
            :data:`~compmech.probing.data.MIN_POINTS_PER_COEFFICIENT` points per coefficient of the
            widest probe (tiny enumerations such as RRXOR's 436 or Z1R's words), then 80/20.
        max_points: enumerate all words up to this many points
            (:func:`~compmech.probing.inputs.probe_inputs`).
        num_sequences: sampled sequences otherwise.
        weighting: ``"uniform"`` (every enumerated point weighs 1, Shai et al. 2024) or
            ``"probability"`` (point ``(word, t)`` weighs ``P(word)``, Riechers et al. 2025).
        folds: ``K >= 2`` for K-fold cross-validation by sequence (scores pooled over folds)
            instead of ``split``; ``None``: the split.
        geometry: compare the headline hook's held-out predictions with the true beliefs scale by
            scale at every probed checkpoint, and every hook at the last one
            (:func:`compmech.compare_geometry`: paired resolution; equivalent history).
        decoders: nonlinear decoders (``"knn"``, ``"mlp"``, :mod:`compmech.probing.decoders`)
            fitted beside the linear probe at the last checkpoint; ``()`` for none.
        decoder_concat: also fit the decoders to the concatenation of layers (else the headline
            hook only).
        rcond_sweep: also fit every hook with its cut-off chosen by inner validation
            (:func:`compmech.probing.crossval.rcond_sweep`), reported as each hook's
            ``regularisation``.
        curve_words: the checkpoints between the first and the last are probed on a fixed seeded
            subset of this many sequences (:mod:`compmech.probing.curve`); ``None``: every
            checkpoint on every sequence.

    Raises:
        ValueError: an option out of its range, in one line naming it.
    """

    checkpoints: str | int = "all"
    hooks: tuple[str, ...] | None = None
    headline: str | None = None
    seed: int = 0
    split: str = "auto"
    max_points: int = MAX_ENUMERATED_POINTS
    num_sequences: int = 20_000
    weighting: str = "uniform"
    folds: int | None = None
    geometry: bool = True
    decoders: tuple[str, ...] = DEFAULT_DECODERS
    decoder_concat: bool = True
    rcond_sweep: bool = False
    curve_words: int | None = CURVE_WORDS

    def __post_init__(self) -> None:
        checkpoints = self.checkpoints
        if isinstance(checkpoints, str) and checkpoints not in ("all", "last"):
            try:
                checkpoints = int(checkpoints)
            except ValueError:
                raise ValueError(f"checkpoints must be 'all', 'last' or a number N >= 2; got "
                                 f"{self.checkpoints!r}") from None
        if not isinstance(checkpoints, str) and not _whole(checkpoints, 2):
            raise ValueError(f"checkpoints N needs N >= 2 (the initialisation and the last step); "
                             f"got {self.checkpoints!r}")
        object.__setattr__(self, "checkpoints", checkpoints)
        if self.hooks is not None:
            if isinstance(self.hooks, str) or not isinstance(self.hooks, Sequence) or not self.hooks:
                raise ValueError(f"hooks must be a non-empty list of hook names or None; got "
                                 f"{self.hooks!r}")
            object.__setattr__(self, "hooks", tuple(dict.fromkeys(self.hooks)))
        if self.split != "auto" and self.split not in SPLITS:
            raise ValueError(f"split must be 'auto', '20/80' or '80/20'; got {self.split!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}; got "
                             f"{self.weighting!r}")
        if self.folds is not None:
            if not _whole(self.folds, 2):
                raise ValueError(f"folds must be an integer >= 2; got {self.folds!r}")
            if self.split != "auto":
                raise ValueError("give either a split or a number of folds for k-fold "
                                 "cross-validation, not both")
        for name in ("max_points", "num_sequences"):
            value = getattr(self, name)
            if not _whole(value, 1):
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.curve_words is not None and not _whole(self.curve_words, 1):
            raise ValueError(f"curve_words must be a positive number of sequences or None (every "
                             f"word); got {self.curve_words!r}")
        if isinstance(self.decoders, str):
            raise ValueError(f"decoders must be a list of names; got the string {self.decoders!r}")
        bad = [d for d in self.decoders if d not in PROBE_DECODERS]
        if bad:
            raise ValueError(f"unknown decoders {bad}; choose from {', '.join(PROBE_DECODERS)}")
        object.__setattr__(self, "decoders", tuple(dict.fromkeys(self.decoders)))


__all__ = ["PROBE_DECODERS", "ProbeConfig"]
