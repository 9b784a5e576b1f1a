"""Nonlinear read-outs of beliefs from activations: does the network hold finer structure than a
linear probe shows?

A linear probe's resolution (:func:`compmech.compare_geometry`) bounds from above the scale down to
which the belief fractal can be read *linearly* from the activations. A nonlinear decoder trained
on the same training side of the split and scored on the same held-out points can only read more:
if its resolution is finer, the activations hold structure below the linear probe's resolution
(folded or curved, not lost); if not, the linear probe's resolution is the representation's.

Decoders (imported only when one is fitted):

* ``"knn"``: k-nearest neighbours (``k = KNN_NEIGHBORS``, inverse-distance weights, scikit-learn)
  on standardised features.
* ``"mlp"``: a 2-layer perceptron (``MLP_HIDDEN`` ReLU units per layer, Glorot-uniform
  initialisation, squared-error loss) on standardised features, trained by Adam on all its training
  points for a fixed budget of :data:`MLP_EPOCHS` epochs of minibatches of :data:`MLP_BATCH`
  (at least :data:`MLP_MIN_STEPS` steps), the learning rate :data:`MLP_LEARNING_RATE` decayed by a
  cosine to 1% of it; one compiled JAX loop, seeded (:func:`mlp_fit_predict`). On the 2-minute
  Mess3 run (the probe's seed 0) it reads the belief better than scikit-learn's ``MLPRegressor``
  with early stopping did (held-out MSE on novel prefixes: last layer 1.65e-4 vs 1.84e-4,
  concatenation 1.47e-4 vs 2.36e-4, untrained control 1.64e-2 vs 1.85e-2), the last layer's fit in
  1.5-5 s of CPU (with compilation) instead of 64 s (88 epochs of early stopping).
* ``"linear"``: ordinary least squares with intercept on the same subsample, fitted by the probe's
  own estimator (:class:`~compmech.probing.linear.BeliefProbe`; the like-for-like reference; the
  probe itself uses the whole training side).

To keep the probe's cost modest, each decoder is trained on at most :data:`TRAIN_POINTS` points
drawn (seeded) from the training side (with probability proportional to the point weights when the
probe is weighted, then unweighted). The probe scores them on held-out points whose input prefix
never occurs on the training side (:func:`compmech.probing.run.novel_prefix_points`): with a
split by sequence, short prefixes are shared between the sides, identical prefixes give identical
activations, and a nearest-neighbour decoder would copy their beliefs whatever the network. Even
there, a nonlinear decoder can read recent tokens from any deterministic function of them, so the
probe also fits the same decoders to the untrained network (the control to read them against).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from compmech.probing.linear import BeliefProbe

#: Training points per decoder (a seeded subsample of the probe's training side).
TRAIN_POINTS = 20_000
#: Neighbours of the k-nearest-neighbour decoder.
KNN_NEIGHBORS = 5
#: Hidden units of each of the MLP's two layers.
MLP_HIDDEN = 64
#: Epochs of the MLP over its training points (a fixed budget: no early stopping).
MLP_EPOCHS = 30
#: Fewest optimiser steps of the MLP (more epochs when the training set is small).
MLP_MIN_STEPS = 3000
#: Minibatch size of the MLP.
MLP_BATCH = 64
#: Peak learning rate of the MLP's Adam (cosine decay to 1% of it over the budget).
MLP_LEARNING_RATE = 3e-3
#: The decoders :func:`fit_predict` knows.
DECODERS = ("linear", "knn", "mlp")
#: Rows of features gathered per call of a lazy (concatenated) feature function (each call builds
#: every position of its sequences: 1,024 x 10 x 384 float32 is 16 MB for the paper model's
#: concatenation).
ROW_CHUNK = 1024


class DecoderFit(NamedTuple):
    """Held-out predictions of one decoder: ``predicted (n_test, k)``, ``mse`` (mean over points and
    coordinates), ``train_points`` used."""

    predicted: np.ndarray
    mse: float
    train_points: int


def _standardize(train: np.ndarray, test: np.ndarray, *,
                 overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(x - mean) / scale`` of both with the training side's mean and scale: in place when
    ``overwrite`` (the caller's own float64 arrays), else one new array each."""
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale = np.where(scale > 1e-12 * max(float(scale.max()), 1e-300), scale, 1.0)
    out = []
    for x in (train, test):
        if overwrite:
            x -= mean
        else:
            x = x - mean
        x /= scale
        out.append(x)
    return out[0], out[1]


def fit_predict(kind: str, X_train, y_train, X_test, *, seed: int = 0,
                overwrite: bool = False) -> np.ndarray:
    """Fit decoder ``kind`` on ``(X_train (n, d), y_train (n, k))``; predict ``X_test (m, d)``.

    Args:
        kind: ``"linear"``, ``"knn"`` or ``"mlp"`` (see the module docstring).
        X_train: float array of training features.
        y_train: float array of training targets.
        X_test: float array of test features.
        seed: the MLP's initialisation and minibatch order.
        overwrite: the features may be standardised in place (float64 arrays the caller no longer
            needs: one copy of the features less at the peak).

    Returns:
        ``(m, k)`` float64 predictions.
    """
    if kind not in DECODERS:
        raise ValueError(f"unknown decoder {kind!r}; choose from {', '.join(DECODERS)}")
    X = np.asarray(X_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    Xt = np.asarray(X_test, dtype=np.float64)
    if X.ndim != 2 or y.ndim != 2 or Xt.ndim != 2 or X.shape[0] != y.shape[0] \
            or X.shape[1] != Xt.shape[1]:
        raise ValueError(f"need X_train (n, d), y_train (n, k), X_test (m, d); got {X.shape}, "
                         f"{y.shape}, {Xt.shape}")
    if X.shape[0] < 2 * KNN_NEIGHBORS:
        raise ValueError(f"a decoder needs at least {2 * KNN_NEIGHBORS} training points; got "
                         f"{X.shape[0]}")
    if kind == "linear":
        return BeliefProbe().fit(X, y).predict(Xt)  # the probe's own OLS, on the subsample
    Xs, Xts = _standardize(X, Xt, overwrite=overwrite)
    if kind == "mlp":
        return mlp_fit_predict(Xs, y, Xts, seed=seed)
    from sklearn.neighbors import KNeighborsRegressor

    model = KNeighborsRegressor(n_neighbors=KNN_NEIGHBORS, weights="distance")
    model.fit(Xs, y)
    return np.asarray(model.predict(Xts), dtype=np.float64).reshape(Xt.shape[0], y.shape[1])


def _mlp_epochs(n: int, batch: int) -> int:
    """Epochs of the budget: :data:`MLP_EPOCHS`, more when ``n`` points give fewer than
    :data:`MLP_MIN_STEPS` steps."""
    per_epoch = n // batch
    return max(MLP_EPOCHS, -(-MLP_MIN_STEPS // per_epoch))


def mlp_fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, *,
                    seed: int = 0) -> np.ndarray:
    """The ``"mlp"`` decoder on already standardised features (see the module docstring).

    Each epoch visits ``floor(n / batch)`` minibatches of a seeded permutation of the ``n`` training
    points (``batch = min(MLP_BATCH, n)``); the loss is the mean squared error over the minibatch
    and the target coordinates. Computed in float32.

    Args:
        X_train: ``(n, d)``; y_train: ``(n, k)``; X_test: ``(m, d)``.
        seed: the initialisation and the minibatch order.

    Returns:
        ``(m, k)`` float64 predictions.
    """
    import jax
    import jax.numpy as jnp

    n, d = X_train.shape
    batch = min(MLP_BATCH, n)
    epochs = _mlp_epochs(n, batch)
    k_init, k_order = jax.random.split(jax.random.PRNGKey(int(seed)))
    sizes = (d, MLP_HIDDEN, MLP_HIDDEN, y_train.shape[1])
    params = []
    for key, fan_in, fan_out in zip(jax.random.split(k_init, 3), sizes[:-1], sizes[1:],
                                    strict=True):
        limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        params.append((jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit),
                       jnp.zeros(fan_out, jnp.float32)))
    trained = _mlp_train()(params, jnp.asarray(X_train, jnp.float32),
                         jnp.asarray(y_train, jnp.float32), k_order, epochs=epochs, batch=batch)
    return np.asarray(_mlp_forward(trained, jnp.asarray(X_test, jnp.float32)), dtype=np.float64)


def _mlp_forward(params, x):
    import jax

    for W, b in params[:-1]:
        x = jax.nn.relu(x @ W + b[None, :])
    W, b = params[-1]
    return x @ W + b[None, :]


@functools.cache
def _mlp_train():
    """The compiled training loop (:func:`_mlp_train_loop`; jax imported on first use)."""
    import jax

    return jax.jit(_mlp_train_loop, static_argnames=("epochs", "batch"))


def _mlp_train_loop(params, X, y, key, *, epochs: int, batch: int):
    """Adam with a cosine-decayed learning rate over ``epochs`` epochs of ``n // batch`` minibatches
    (each epoch a fresh permutation of the points)."""
    import jax
    import jax.numpy as jnp
    import optax

    n = X.shape[0]
    steps = n // batch
    optimizer = optax.adam(optax.cosine_decay_schedule(MLP_LEARNING_RATE, epochs * steps,
                                                       alpha=0.01))

    def loss(p, xb, yb):
        return jnp.mean((_mlp_forward(p, xb) - yb) ** 2)

    def step(carry, idx):
        p, state = carry
        grads = jax.grad(loss)(p, X[idx], y[idx])
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), None

    def epoch(carry, key):
        order = jax.random.permutation(key, n)[: steps * batch].reshape(steps, batch)
        return jax.lax.scan(step, carry, order)[0], None

    carry = (params, optimizer.init(params))
    return jax.lax.scan(epoch, carry, jax.random.split(key, epochs))[0][0]


def training_subsample(train_points: np.ndarray, weights: np.ndarray | None, *, seed: int,
                       max_points: int = TRAIN_POINTS) -> np.ndarray:
    """A seeded subsample of ``train_points`` (flat indices): unweighted, at most ``max_points``
    drawn uniformly without replacement; weighted, ``max_points`` draws with probabilities
    proportional to ``weights[train_points]`` (with replacement, so that the unweighted fit on
    them estimates the weighted one)."""
    rng = np.random.default_rng(seed)
    pts = np.asarray(train_points)
    if weights is None:
        if pts.size <= max_points:
            return pts
        return np.sort(rng.choice(pts, size=max_points, replace=False))
    w = np.asarray(weights, dtype=np.float64).reshape(-1)[pts]
    keep = w > 0
    pts, w = pts[keep], w[keep]
    return np.sort(rng.choice(pts, size=max_points, replace=True, p=w / w.sum()))


def feature_rows(features, flat: np.ndarray, positions: int) -> np.ndarray:
    """``(len(flat), d)`` float64 rows of ``features`` (``(N, P, d)`` array or a lazy function of
    sequence indices, :func:`compmech.probing.inputs.concatenated`) at flat point indices
    ``seq * P + pos``."""
    flat = np.asarray(flat)
    out = []
    for start in range(0, flat.size, ROW_CHUNK):
        seq, pos = np.divmod(flat[start:start + ROW_CHUNK], positions)
        block = features(seq) if callable(features) else np.asarray(features)[seq]
        out.append(np.asarray(block[np.arange(seq.size), pos], dtype=np.float64))
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0))


def decode(kind: str, features, targets: np.ndarray, train_points: np.ndarray,
           test_points: np.ndarray, positions: int, *, seed: int = 0,
           test_weights: np.ndarray | None = None) -> DecoderFit:
    """Train decoder ``kind`` on ``train_points`` and predict ``test_points`` (flat indices).

    Args:
        kind: see :func:`fit_predict`.
        features: ``(N, P, d)`` activations or a lazy feature function.
        targets: ``(N * P, k)`` the probe's targets, flat.
        train_points: flat indices of the training points (already subsampled).
        test_points: flat indices of the test points (already subsampled).
        positions: ``P``.
        seed: the decoder's seed.
        test_weights: optional ``(len(test_points),)`` weights of the held-out MSE.
    """
    X = feature_rows(features, train_points, positions)
    Xt = feature_rows(features, test_points, positions)
    pred = fit_predict(kind, X, targets[train_points], Xt, seed=seed, overwrite=True)  # own rows
    err = ((pred - targets[test_points]) ** 2).mean(axis=1)
    mse = float(np.average(err, weights=test_weights))
    return DecoderFit(pred, mse, int(np.asarray(train_points).size))


__all__ = ["DECODERS", "DecoderFit", "KNN_NEIGHBORS", "MLP_BATCH", "MLP_EPOCHS", "MLP_HIDDEN",
           "MLP_LEARNING_RATE", "MLP_MIN_STEPS", "TRAIN_POINTS", "decode", "feature_rows",
           "fit_predict", "mlp_fit_predict", "training_subsample"]
