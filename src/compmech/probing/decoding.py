"""The nonlinear decoders beside the linear probe, on held-out points whose input prefix is not on
the training side (:func:`novel_prefix_points`): k-nearest neighbours and the MLP of
:mod:`compmech.probing.decoders` per hook, with the untrained control and the exact Markov
lookups (:func:`lookup_reports`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from compmech.probing import decoders as dec
from compmech.probing.crossval import (
    ProbeResult,
    predict_points,
)
from compmech.probing.data import (
    FIGURE_POINTS,
    LOOKUP_ORDERS,
    MIN_DECODER_POINTS,
    ProbeData,
    _features,
    _model_hooks,
)
from compmech.probing.job import _ProbeJob
from compmech.probing.report import DecoderReport


def _train_points(data: ProbeData) -> np.ndarray:
    """Flat indices of the training side of the split (positive weight)."""
    P = data.tokens.shape[1]
    train = np.flatnonzero(np.repeat(np.isin(data.folds, np.arange(data.train_folds)), P))
    if data.weights is not None:
        train = train[data.weights.reshape(-1)[train] > 0]
    return train


def _prefix_hashes(tokens: np.ndarray) -> np.ndarray:
    """``(N, P)`` uint64 hash of each prefix ``tokens[n, :t+1]`` (polynomial, wrapping)."""
    h = np.zeros(tokens.shape[0], dtype=np.uint64)
    out = np.empty(tokens.shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for t in range(tokens.shape[1]):  # positions only (n_ctx steps), vectorised over sequences
            h = h * np.uint64(0x100000001B3) + tokens[:, t].astype(np.uint64) + np.uint64(1)
            out[:, t] = h
    return out


def novel_prefix_points(data: ProbeData, *, seed: int, max_points: int = FIGURE_POINTS) -> np.ndarray:
    """Held-out flat points whose input prefix (the tokens the model has seen there) occurs nowhere
    on the training side: a decoder cannot score there by looking up a training point with the
    same activations. At most ``max_points`` (seeded subsample), positive weight only."""
    P = data.tokens.shape[1]
    hashes = _prefix_hashes(data.tokens).reshape(-1)
    train = _train_points(data)
    test = np.flatnonzero(~np.repeat(np.isin(data.folds, np.arange(data.train_folds)), P))
    if data.weights is not None:
        test = test[data.weights.reshape(-1)[test] > 0]
    test = test[~np.isin(hashes[test], hashes[train])]
    if test.size > max_points:
        test = np.sort(np.random.default_rng(seed).choice(test, max_points, replace=False))
    return test


def _probe_decoders(job: _ProbeJob, acts: dict[str, np.ndarray], results: dict[str, ProbeResult],
                    decoders: Sequence[str]) -> dict[str, dict[str, DecoderReport]]:
    """The linear probe beside nonlinear decoders for the headline hook and the concatenation:
    each decoder trained on one seeded subsample of the training side; all scored on the held-out
    points with novel prefixes (:func:`novel_prefix_points`). Control, added by
    :func:`untrained_decoders` once the untrained network's activations are collected: the
    nonlinear decoders on the untrained network's headline hook (``untrained_knn``,
    ``untrained_mlp``): what any deterministic function of the recent tokens gives such a
    decoder."""
    run, P = job.run, job.positions
    missing = [h for h in _model_hooks(list(job.decoder_hooks), run) if h not in acts]
    if missing:
        raise ValueError(f"the decoders need the last checkpoint's activations at {missing}")
    targets = job.flat_targets
    train_side = _train_points(job.data)
    train = dec.training_subsample(train_side, job.data.weights, seed=job.seed)
    test = novel_prefix_points(job.data, seed=job.seed)
    if test.size < MIN_DECODER_POINTS:
        return {}
    job.held_out.decoder_points = test
    job.decoder_train = train
    w = job.point_weights(test)
    out: dict[str, dict[str, DecoderReport]] = {}
    for hook in job.decoder_hooks:
        feats = _features(acts, hook, run)
        rows: dict[str, DecoderReport] = {}
        if hook in results:
            t0 = time.perf_counter()
            pred = predict_points(results[hook].probe, feats, test, P).astype(np.float64)
            mse = float(np.average(((pred - targets[test]) ** 2).mean(axis=1), weights=w))
            rows["linear"] = DecoderReport(
                "linear", hook, mse, int(train_side.size), time.perf_counter() - t0,
                job.compare(pred, hook=hook, step=job.last, points=test))
        for kind in ("linear_subsample", *decoders):
            rows[kind] = _decoder_report(job, "linear" if kind == "linear_subsample" else kind,
                                         feats, hook, _Points(train, test, w), name=kind,
                                         step=job.last)
        out[hook] = rows
    return out


def untrained_decoders(job: _ProbeJob, untrained_acts: dict[str, np.ndarray],
                       reports: dict[str, dict[str, DecoderReport]],
                       decoders: Sequence[str]) -> None:
    """The decoders' control, added to ``reports[headline]`` as ``untrained_<kind>``: the same
    decoders on the untrained network's (step 0) headline hook, on the same training subsample
    and held-out points as :func:`_probe_decoders` (``untrained_acts``: the step-0 activations
    collected once for the baselines)."""
    feats = _features(untrained_acts, job.headline, job.run)
    test = job.held_out.decoder_points
    w = job.point_weights(test)
    for kind in decoders:
        reports[job.headline][f"untrained_{kind}"] = _decoder_report(
            job, kind, feats, job.headline, _Points(job.decoder_train, test, w),
            name=f"untrained_{kind}", step=0)


def lookup_reports(job: _ProbeJob, points: np.ndarray) -> dict[str, DecoderReport]:
    """The exact Markov-k-plus-position lookups (:data:`LOOKUP_ORDERS`, ``k <= n_ctx``) at
    ``points``, scored and compared like a decoder (they need no training: each is the mean true
    belief over all probe points with the same position and last ``k`` tokens)."""
    job.lookup_errors_at(points)  # builds the lookups once
    out = {}
    for k in (k for k in LOOKUP_ORDERS if k <= job.positions):
        t0 = time.perf_counter()
        pred = job.lookups.predict(k, points)
        mse = float(np.average(((pred - job.flat_targets[points]) ** 2).mean(axis=1),
                               weights=job.point_weights(points)))
        out[f"markov_{k}"] = DecoderReport(
            f"markov_{k}", "tokens", mse, job.lookups.num_points, time.perf_counter() - t0,
            job.compare(pred, hook="tokens", step=job.last, decoder=f"markov_{k}", points=points))
    return out


class _Points(NamedTuple):
    """The decoders' flat training points, held-out points and the held-out points' weights."""

    train: np.ndarray
    test: np.ndarray
    weights: np.ndarray | None


def _decoder_report(job: _ProbeJob, kind: str, feats, hook: str, points: _Points, *, name: str,
                    step: int) -> DecoderReport:
    """Fit one decoder, keep its held-out predictions for the figures, compare them with the truth."""
    t0 = time.perf_counter()
    fit = dec.decode(kind, feats, job.flat_targets, points.train, points.test, job.positions,
                     seed=job.seed, test_weights=points.weights)
    seconds = time.perf_counter() - t0
    job.held_out.decoders[name, hook] = fit.predicted.astype(np.float32)
    return DecoderReport(name, hook, fit.mse, fit.train_points, seconds,
                         job.compare(fit.predicted, hook=hook, step=step, decoder=name,
                                     points=points.test))
