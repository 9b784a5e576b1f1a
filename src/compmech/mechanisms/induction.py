"""Induction (copy) heads over training: the induction score of every attention head at every
checkpoint of a run (:func:`compmech.incontext.induction_scores` defines the score), the head that
ends highest, and the step where its score jumps (:func:`compmech.incontext.transition_step`).

Used by ``compmech reproduce icl`` (:mod:`compmech.experiments.icl`) to find the induction-head
phase transition of in-context learning (Olsson et al. 2022; Riechers, Bigelow, Alt & Shai 2025,
arXiv 2505.18373).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compmech.incontext import induction_scores, transition_step
from compmech.inference import sample
from transformer import Run, attention_patterns

#: Sequences of the fixed sample the scores are measured on.
INDUCTION_SEQUENCES = 256


def induction_inputs(run: Run, num: int = INDUCTION_SEQUENCES, seed: int = 12345) -> np.ndarray:
    """A fixed sample of the run's mixture as model inputs (BOS first), ``(num, n_ctx)``."""
    words = sample(run.hmm, num, run.model_config.n_ctx - int(run.config.bos), seed=seed).tokens
    return run.model_inputs(words)


def induction_over_training(run: Run, inputs: np.ndarray, query_tokens=None) -> dict[str, Any]:
    """The induction score of every head at every checkpoint: ``{"steps", "score" (C, L, H),
    "mass" (C, L, H), "uniform_mass"}`` (plus the same restricted to ``query_tokens``)."""
    steps = run.checkpoint_steps
    out: dict[str, Any] = {"steps": steps, "score": [], "mass": []}
    if query_tokens is not None:
        out.update(query_tokens=list(query_tokens), score_at_queries=[])
    for step in steps:  # one forward pass per checkpoint
        patterns = attention_patterns(run.load_params(step), run.model_config, inputs)
        layers = [np.asarray(patterns[layer]) for layer in sorted(patterns)]
        scores = [induction_scores(a, inputs) for a in layers]
        out["score"].append([s.score.tolist() for s in scores])
        out["mass"].append([s.mass.tolist() for s in scores])
        out["uniform_mass"] = scores[0].uniform_mass
        if query_tokens is not None:
            out["score_at_queries"].append(
                [induction_scores(a, inputs, query_tokens).score.tolist() for a in layers])
    best = np.asarray(out["score"]).reshape(len(steps), -1)
    head = int(np.argmax(best[-1]))
    L, H = np.asarray(out["score"]).shape[1:]
    out["best_head"] = {"layer": head // H, "head": head % H}
    out["best_head_score"] = best[:, head].tolist()
    jump = transition_step(steps, best[:, head]) if len(steps) >= 2 else None
    out["transition"] = None if jump is None else {"step": jump[0], "jump": jump[1]}
    return out


__all__ = ["INDUCTION_SEQUENCES", "induction_inputs", "induction_over_training"]
