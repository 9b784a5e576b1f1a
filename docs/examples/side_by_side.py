# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Theory vs learned, from Python
#
# The side-by-side figure of `compmech reproduce mess3` on a tiny budget: the beliefs of an
# observer of the Mess3 process (its mixed-state presentation) beside a linear probe of a small
# transformer's residual stream, on held-out inputs, coloured by the true belief. Each stage is one
# call: the theory (`compmech`), training (`transformer`), the probe (`BeliefProbe`) and
# the figure. It runs in seconds on a CPU (CI runs it); for the real figure give the model the
# paper's size and two minutes (`compmech reproduce mess3`).
#
# Run it as a script (`python docs/examples/side_by_side.py [OUT_DIR]`) or open it as a notebook
# with jupytext.

# %%
import sys
import tempfile
from pathlib import Path

import numpy as np

import compmech
import transformer
from compmech.figures.clouds import side_by_side
from compmech.probing.linear import BeliefProbe

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="side_by_side_"))
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Theory: every belief an observer can hold after up to `n_ctx` tokens

# %%
n_ctx = 6
mess3 = compmech.get_process("mess3")  # x = 0.05, alpha = 0.85, the paper's values
tree = compmech.mixed_state_tree(mess3, n_ctx)
theory = tree.all_beliefs()  # (num_nodes, 3), one belief per word of length <= n_ctx
print(f"{len(theory)} mixed states to depth {n_ctx}")

# %% [markdown]
# ## Train a small transformer for a few hundred steps

# %%
model = transformer.ModelConfig(n_layers=2, d_model=32, n_heads=1, d_head=8, d_mlp=64,
                                n_ctx=n_ctx, d_vocab=mess3.vocab_size)
config = transformer.TrainConfig(process="mess3", model=model, steps=300, batch_size=128,
                                 lr=1e-2, warmup_steps=20, eval_every=100, steps_per_call=50,
                                 seed=0)
result = transformer.train(config, out / "run", force=True, progress=False)
print(f"trained {result.step} steps, loss gap {result.final_eval['loss_gap']:.2e} nats per token")

# %% [markdown]
# ## Probe the last block's output for the belief
#
# Every input of `n_ctx` tokens, each position labelled with the belief after the tokens up to it;
# split by sequence (never one sequence on both sides), 20% train / 80% test, least squares with
# intercept, as in Shai et al. (2024).

# %%
run = transformer.load_run(out / "run")
words = compmech.all_words(mess3.vocab_size, n_ctx)  # (3**n_ctx, n_ctx)
hook = run.last_hook()
acts = transformer.collect_activations(run.load_params(), run.model_config,
                                       run.model_inputs(words), hooks=[hook])[hook]
beliefs = compmech.filter_beliefs(mess3, words).beliefs  # (N, n_ctx, 3)

rng = np.random.default_rng(0)
train = rng.permutation(len(words))[: len(words) // 5]
is_train = np.zeros(len(words), bool)
is_train[train] = True
X, y = acts.reshape(-1, acts.shape[-1]), beliefs.reshape(-1, 3)
point_is_train = np.repeat(is_train, n_ctx)
probe = BeliefProbe().fit(X[point_is_train], y[point_is_train])
predicted, true = probe.predict(X[~point_is_train]), y[~point_is_train]
mse = float(np.mean((predicted - true) ** 2))
variance = float(np.mean((true - true.mean(axis=0)) ** 2))
print(f"held-out MSE {mse:.2e} (belief variance {variance:.3f})")

# %% [markdown]
# ## The figure

# %%
fig = side_by_side(theory, predicted, true, stem=out / "side_by_side",
                   caption=f"held-out MSE {mse:.1e} | belief variance {variance:.3f}",
                   title=f"Mess3: theory vs a {config.steps}-step transformer")
print(f"wrote {out / 'side_by_side.png'}")
assert mse < variance / 4, "the probe should explain most of the belief variance"
