"""Test configuration: shape bugs fail loudly; matplotlib draws off-screen."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
