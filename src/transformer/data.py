"""Training data (sampled inside the compiled step, or from a fixed dataset file) and the exact
evaluation set.

Token layout. Without BOS a training sequence is ``n_ctx + 1`` process tokens
``x_1 .. x_{n_ctx+1}``; inputs are ``x_1 .. x_{n_ctx}`` and targets ``x_2 .. x_{n_ctx+1}``, so input
position ``t`` (1-based) predicts ``x_{t+1}`` from ``x_1..x_t`` (best loss ``h(t+1)``). With BOS the
sequence is ``BOS x_1 .. x_{n_ctx}`` with ``BOS = V``; position 0 predicts ``x_1`` from nothing
(best loss ``h(1)``), position ``t`` predicts ``x_{t+1}``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compmech.datasets import load_dataset
from compmech.hmm import Process
from compmech.inference import all_words, filter_beliefs, sample, sample_jax


def split_inputs_targets(words: jax.Array, bos_token: int | None) -> tuple[jax.Array, jax.Array]:
    """Inputs and next-token targets from process words.

    Args:
        words: ``(B, L)`` process tokens.
        bos_token: the BOS id (``V``) or ``None``.

    Returns:
        ``(inputs, targets)``, each ``(B, L - 1)`` without BOS or ``(B, L)`` with BOS.
    """
    if bos_token is None:
        return words[:, :-1], words[:, 1:]
    return with_bos(words[:, :-1], bos_token), words


def with_bos(tokens, bos_token: int):
    """Prepend the BOS token: ``(B, P) -> (B, P + 1)`` (numpy in, numpy out; JAX in, JAX out)."""
    xp = jnp if isinstance(tokens, jax.Array) else np
    tokens = xp.asarray(tokens)
    bos = xp.full((tokens.shape[0], 1), bos_token, dtype=tokens.dtype)
    return xp.concatenate([bos, tokens], axis=1)


def sample_batch(transition_matrices: jax.Array, initial_belief: jax.Array, key: jax.Array,
                 batch_size: int, seq_len: int, bos_token: int | None,
                 right_eigenvector: jax.Array | None = None):
    """Fresh training data, traceable (used inside the compiled train step).

    Args:
        transition_matrices: ``(V, S, S)`` float32.
        initial_belief: ``(S,)`` float32 start distribution (stationary).
        key: PRNG key for this step.
        batch_size: ``B``.
        seq_len: ``L`` process tokens per sequence (``n_ctx + 1``, or ``n_ctx`` with BOS).
        bos_token: BOS id or ``None``.
        right_eigenvector: ``(S,)`` ``r`` of a GHMM (``None`` for a classical HMM).

    Returns:
        ``(inputs (B, n_ctx) int32, targets (B, n_ctx) int32)``.
    """
    words, _ = sample_jax(transition_matrices, initial_belief, key, batch_size, seq_len,
                          right_eigenvector=right_eigenvector)
    return split_inputs_targets(words, bos_token)


def dataset_batch(dataset_tokens: jax.Array, key: jax.Array, batch_size: int, seq_len: int,
                  bos_token: int | None):
    """A batch of rows drawn uniformly with replacement from a fixed dataset, traceable.

    Args:
        dataset_tokens: ``(N, L_file)`` int32 with ``L_file >= seq_len``; the first ``seq_len``
            tokens of each row are used.
    """
    rows = jax.random.randint(key, (batch_size,), 0, dataset_tokens.shape[0])
    words = jnp.take(dataset_tokens, rows, axis=0)[:, :seq_len]
    return split_inputs_targets(words, bos_token)


def load_dataset_tokens(path, hmm: Process, seq_len: int) -> np.ndarray:
    """``(N, L)`` int32 tokens of a dataset file from ``compmech generate`` for training on it.

    Raises:
        ValueError: a missing or malformed file, rows shorter than ``seq_len`` (``n_ctx + 1``
            without BOS, ``n_ctx`` with BOS) or tokens outside ``hmm``'s vocabulary.
    """
    return load_dataset(path, beliefs=False, hmm=hmm, min_length=seq_len).tokens


def _entropy_nats(p: np.ndarray) -> np.ndarray:
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


class ComponentEval(NamedTuple):
    """One component of a mixture, evaluated on the mixture's evaluation inputs.

    Attributes:
        name: the component's name.
        weights: ``(N,)`` the inputs' probabilities under this component alone (summing to 1).
        true_probs: ``(N, n_ctx, V)`` ``P_k(next token | prefix)``: the component's own prediction.
    """

    name: str
    weights: np.ndarray
    true_probs: np.ndarray

    def optimal_loss_nats(self) -> np.ndarray:
        """``(n_ctx,)`` the best loss per position of a predictor that knows the component."""
        return self.weights @ _entropy_nats(self.true_probs)

    def bayes_mixture_loss_nats(self, mixture_probs: np.ndarray) -> np.ndarray:
        """``(n_ctx,)`` the loss of the Bayes-optimal mixture predictor on this component's data,
        ``E_k[CE(P_k, P_mix)] = E_k[H(P_k)] + E_k[KL(P_k || P_mix)]``: the best any predictor of
        the mixture achieves there (:func:`compmech.mixture_component_losses`).

        Args:
            mixture_probs: ``(N, n_ctx, V)`` the mixture's own ``P_mix(next | prefix)`` on the
                same inputs (:attr:`EvalSet.true_probs`).
        """
        logs = np.log(np.where(mixture_probs > 0, mixture_probs, 1.0))
        cross = -np.sum(np.where(self.true_probs > 0, self.true_probs * logs, 0.0), axis=-1)
        return self.weights @ cross


class EvalSet(NamedTuple):
    """Inputs and exact next-token distributions for the probability-weighted evaluation.

    The loss at position ``t`` is ``sum_n weights[n] * CE(true_probs[n, t], model(inputs[n])[t])``,
    which equals the expected cross-entropy over all words because the position-``t`` term depends
    only on the prefix and the weights marginalise over the rest.

    Attributes:
        inputs: ``(N, n_ctx)`` int32 model inputs (BOS first when used).
        weights: ``(N,)`` float64, summing to 1 (word probabilities, or ``1/N`` when sampled).
        true_probs: ``(N, n_ctx, V)`` float64, ``P(next token | prefix)`` at each position.
        exact: whether all words were enumerated (otherwise a fixed sample).
        components: for a mixture (without its own BOS state), each component's view of the same
            inputs (:class:`ComponentEval`), for the in-context loss curves; ``()`` otherwise.
    """

    inputs: np.ndarray
    weights: np.ndarray
    true_probs: np.ndarray
    exact: bool
    components: tuple = ()

    def optimal_loss_nats(self) -> np.ndarray:
        """``(n_ctx,)`` the best achievable loss per position, ``E[H(next | prefix)]`` in nats."""
        return self.weights @ _entropy_nats(self.true_probs)


def component_starts(hmm: Process) -> list[tuple[str, np.ndarray]]:
    """``[(name, start vector)]`` of each component of a mixture: its block of the mixture's start
    vector, normalised (``eta_k r_k = 1``); ``[]`` for other processes and for a mixture with its
    own BOS start state (whose components share that state)."""
    structure = getattr(hmm, "structure", None)
    if structure is None or structure.kind != "mixture" or structure.bos:
        return []
    r, init = hmm.right_eigenvector, hmm.initial_distribution
    names = [str(n) for n in structure.names]
    if len(set(names)) < len(names):  # e.g. two Mess3 with other parameters: number them
        names = [f"{n} #{k}" for k, n in enumerate(names)]
    starts = []
    for name, block in zip(names, structure.blocks(), strict=True):
        eta = np.zeros_like(init)
        eta[block] = init[block] / (init[block] @ r[block])
        starts.append((name, eta))
    return starts


def _components(hmm: Process, words: np.ndarray, weights: np.ndarray,
                log_probability: np.ndarray) -> tuple:
    """Each mixture component's view of ``words``: importance weights ``weights * P_k / P`` (for
    enumerated words, exactly ``P_k``) and its own next-token distributions."""
    out = []
    for name, eta in component_starts(hmm):
        filtered = filter_beliefs(hmm, words, initial_distribution=eta, allow_impossible=True)
        ratio = np.exp(np.where(np.isfinite(filtered.log_probability),
                                filtered.log_probability - log_probability, -np.inf))
        w = weights * ratio
        probs = np.nan_to_num(filtered.next_token_probs, nan=0.0)
        out.append(ComponentEval(name, w / w.sum(), probs))
    return tuple(out)


def build_eval_set(hmm: Process, n_ctx: int, bos: bool, max_words: int = 200_000,
                   num_samples: int = 100_000, seed: int = 0) -> EvalSet:
    """All context words with their probabilities when ``V**n`` is small, else a fixed sample.

    ``n`` (process tokens in the input) is ``n_ctx`` without BOS and ``n_ctx - 1`` with it.
    Impossible words (probability 0) are dropped. For a mixture, each component's view of the same
    inputs is added (:attr:`EvalSet.components`).

    Args:
        hmm: the process (HMM or GHMM).
        n_ctx: model context length.
        bos: whether inputs start with BOS (id ``V``).
        max_words: enumerate when ``V**n <= max_words``.
        num_samples: size of the sample otherwise.
        seed: seed of the sample.
    """
    V = hmm.vocab_size
    n = n_ctx - 1 if bos else n_ctx
    start_probs = hmm.initial_distribution @ hmm.emission_probabilities  # P(x_1)
    components: tuple = ()
    if n == 0:
        words = np.zeros((1, 0), dtype=np.int32)
        weights = np.ones(1)
        true_probs = np.zeros((1, 0, V))
        exact = True
    else:
        exact = V**n <= max_words
        if exact:
            words = all_words(V, n)
            filtered = filter_beliefs(hmm, words, allow_impossible=True)
            weights = np.exp(filtered.log_probability)
            keep = weights > 0
            words, weights = words[keep], weights[keep]
            true_probs = filtered.next_token_probs[keep]
            log_p = filtered.log_probability[keep]
        else:
            words = sample(hmm, num_samples, n, seed).tokens
            weights = np.full(num_samples, 1.0 / num_samples)
            filtered = filter_beliefs(hmm, words)
            true_probs, log_p = filtered.next_token_probs, filtered.log_probability
        weights = weights / weights.sum()
        components = _components(hmm, words, weights, log_p)
    if bos:
        inputs = with_bos(words, V)
        first = np.broadcast_to(start_probs[None, None, :], (len(words), 1, V))
        true_probs = np.concatenate([first, true_probs], axis=1)
        components = tuple(c._replace(true_probs=np.concatenate(
            [np.broadcast_to((eta @ hmm.emission_probabilities)[None, None, :], (len(words), 1, V)),
             c.true_probs], axis=1))
            for c, (_, eta) in zip(components, component_starts(hmm), strict=True))
    else:
        inputs = words
    return EvalSet(inputs.astype(np.int32), weights, np.ascontiguousarray(true_probs), exact,
                   components)


__all__ = [
    "ComponentEval",
    "EvalSet",
    "build_eval_set",
    "component_starts",
    "dataset_batch",
    "load_dataset_tokens",
    "sample_batch",
    "split_inputs_targets",
    "with_bos",
]
