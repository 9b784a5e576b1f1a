"""The typed results of ``compmech reproduce factored`` (:mod:`compmech.experiments.factored`): a
factor and a model's labels, the analysis of one checkpoint, one model's result
(``results/<job>.json``) and ``results.json``. Each writes and reads itself from its fields
(:class:`compmech.records.Record`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compmech.processes import get_process
from compmech.records import Record, omitted_if_none


@dataclass(frozen=True)
class Factor(Record):
    """One factor of the product: a catalogue process and its parameters."""

    process: str
    params: dict[str, float] = field(default_factory=dict)

    def build(self):
        """The factor's process."""
        return get_process(self.process, **self.params)


@dataclass(frozen=True)
class Variant:
    """One model's process: a noisy channel of strength ``epsilon`` on the product, or the chain
    (``epsilon`` ``None``); ``process``/``process_params`` as a ``TrainConfig`` takes them."""

    label: str
    epsilon: float | None
    process: str
    process_params: dict[str, Any]


@dataclass(frozen=True)
class FactoredLabels(Record):
    """What a model is: its variant's label, the channel's strength, the seed and the noise kind."""

    variant: str
    epsilon: float | None
    seed: int
    noise: str


@dataclass(frozen=True)
class Orthogonality(Record):
    """The factors' encoding patterns' subspaces (:class:`compmech.subspaces.SubspaceOrthogonality`),
    or the ``error`` that prevented them (e.g. a factor the activations do not move with at step
    0). Written without the fields that are ``None``: the metrics, or only ``error``."""

    overlap: float | None = omitted_if_none()
    overlap_pairs: list[list[float]] | None = omitted_if_none()
    participation_ratio: float | None = omitted_if_none()
    effective_rank: float | None = omitted_if_none()
    ranks: list[int] | None = omitted_if_none()
    total_rank: int | None = omitted_if_none()
    error: str | None = omitted_if_none()


@dataclass(frozen=True)
class CheckpointAnalysis(Record):
    """One analysed checkpoint: the last layer's cumulative explained variance (``cev``,
    ``(d_model,)``) and ``components_95``, each factor's held-out probe ``r2`` (``{factor: r2}``),
    and the orthogonality of the factors' encoding patterns."""

    step: int
    tokens_seen: int
    hook: str
    cev: list[float]
    components_95: int
    r2: dict[str, float | None]
    orthogonality: Orthogonality


@dataclass(frozen=True)
class TrainInfo(Record):
    """How a model was trained."""

    steps: int
    batch_size: int
    tokens_seen: int
    wall_seconds: float | None


@dataclass(frozen=True)
class FactoredResult(Record):
    """``results/<name>.json``: one model, its predictions and its analysed checkpoints (the last
    one is the final model)."""

    name: str
    labels: FactoredLabels
    process: str
    process_params: dict[str, Any]
    model: dict[str, Any]
    predicted_factored: int
    predicted_joint: int
    train: TrainInfo
    loss_gap: float | None
    checkpoints: list[CheckpointAnalysis]
    train_seconds: float
    analysis_seconds: float

    @property
    def final(self) -> CheckpointAnalysis:
        """The last analysed checkpoint."""
        return self.checkpoints[-1]


@dataclass(frozen=True)
class Claim(Record):
    """The paper's claim on one model (:func:`compmech.experiments.factored_report.claim_check`)."""

    first_factored_step: int | None
    components_95_then: int | None
    components_95_max_after: int | None
    components_95_final: int
    grows_later: bool | None


@dataclass(frozen=True)
class FactoredRow(FactoredResult):
    """A model's row of ``results.json``: its result and the claim checked on it."""

    claim: Claim | None = None


@dataclass(frozen=True)
class FactoredSettings(Record):
    """The run's settings (also the folder's manifest)."""

    experiment: str
    scale: str
    factors: list[Factor]
    noise: str
    seeds: list[int]
    steps: int | None
    minutes: float | None
    model: dict[str, int]
    batch_size: int
    lr: float
    epsilons: list[float]
    sequences: int
    checkpoints: int
    recipe: dict[str, Any]


@dataclass(frozen=True)
class BeliefComponents(Record):
    """The control of ``components_95``: the count of the *true* beliefs on the analysis's sampled
    prefixes, represented factored (the factors' beliefs side by side, each in its plane
    coordinates) and joint (the joint belief in its plane coordinates). A network that carried the
    joint belief linearly would show about ``joint``, not ``predicted_joint`` (the affine
    dimension, which counts every direction however little variance it has)."""

    factored: int
    joint: int


@dataclass(frozen=True)
class FactoredSummary(Record):
    """``results.json``: every model's result and the run's settings."""

    experiment: str
    protocol: str
    settings: FactoredSettings
    predicted_factored: int
    predicted_joint: int
    rows: list[FactoredRow]
    environment: dict[str, Any]
    failed: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    belief_components_95: dict[str, BeliefComponents] = field(default_factory=dict)


__all__ = ["BeliefComponents", "CheckpointAnalysis", "Claim", "Factor", "FactoredLabels", "FactoredResult",
           "FactoredRow", "FactoredSettings", "FactoredSummary", "Orthogonality", "TrainInfo",
           "Variant"]
