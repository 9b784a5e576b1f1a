"""Recurrent networks: each cell against a step-by-step NumPy oracle (and flax's own cells), causality
of every architecture, the patch contract, config round trips, training to the optimum and resume."""


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import transformer
from transformer import GRUConfig, LSTMConfig, ModelConfig, RNNConfig, TrainConfig, registry
from transformer.config import LinearBottleneckConfig, RecurrentConfig, recurrent_config
from two_devices import run_on_two_cpu_devices

RECURRENT = ("rnn", "lstm", "gru")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _random_params(cfg, seed: int):
    """Parameters with every entry random (biases included), so a missing bias or a swapped gate
    changes the outputs."""
    params = transformer.init_params(cfg, seed)
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_unflatten(
        tree, [jnp.asarray(0.6 * rng.normal(size=a.shape), jnp.float32) for a in leaves])


def _numpy_cell(arch, p, x, carry):
    """One step of one layer, gate by gate, from the parameter dict ``p`` (float64)."""
    W_x, W_h, b = (np.asarray(p[k], np.float64) for k in ("W_x", "W_h", "b"))
    H = W_h.shape[0]
    if arch == "rnn":
        h = np.tanh(x @ W_x + carry @ W_h + b)
        return h, h
    if arch == "lstm":
        c, h = carry
        gate = [x @ W_x[:, k * H:(k + 1) * H] + h @ W_h[:, k * H:(k + 1) * H] + b[k * H:(k + 1) * H]
                for k in range(4)]
        i, f, g, o = _sigmoid(gate[0]), _sigmoid(gate[1]), np.tanh(gate[2]), _sigmoid(gate[3])
        c = f * c + i * g
        h = o * np.tanh(c)
        return (c, h), h
    b_hn = np.asarray(p["b_hn"], np.float64)
    h = carry
    sl = [slice(k * H, (k + 1) * H) for k in range(3)]
    r = _sigmoid(x @ W_x[:, sl[0]] + b[sl[0]] + h @ W_h[:, sl[0]])
    z = _sigmoid(x @ W_x[:, sl[1]] + b[sl[1]] + h @ W_h[:, sl[1]])
    n = np.tanh(x @ W_x[:, sl[2]] + b[sl[2]] + r * (h @ W_h[:, sl[2]] + b_hn))
    h = (1 - z) * n + z * h
    return h, h


def numpy_forward(cfg, params, tokens, patches=None):
    """The whole network position by position and layer by layer (the patch added to ``h^l_t``
    before anything reads it)."""
    patches = patches or {}
    B, P = tokens.shape
    H = cfg.d_hidden
    W_E = np.asarray(params["W_E"], np.float64)
    embed = W_E[tokens] + patches.get("hook_embed", 0.0)
    cache = {"hook_embed": embed}
    zero = np.zeros((B, H))
    carries = [((zero, zero) if cfg.arch == "lstm" else zero) for _ in range(cfg.n_layers)]
    hidden = np.zeros((cfg.n_layers, B, P, H))
    for t in range(P):
        x = embed[:, t]
        for layer in range(cfg.n_layers):
            carry, h = _numpy_cell(cfg.arch, params[f"layers_{layer}"], x, carries[layer])
            name = f"layers.{layer}.hook_hidden"
            if name in patches:
                h = h + patches[name][:, t]
                carry = (carry[0], h) if cfg.arch == "lstm" else h
            carries[layer] = carry
            hidden[layer, :, t] = h
            x = h
    for layer in range(cfg.n_layers):
        cache[f"layers.{layer}.hook_hidden"] = hidden[layer]
    logits = hidden[-1] @ np.asarray(params["W_U"], np.float64) + np.asarray(params["b_U"])
    return logits, cache


def _tokens(cfg, seed=0, batch=5):
    return np.random.default_rng(seed).integers(0, cfg.d_vocab, size=(batch, cfg.n_ctx)).astype(np.int32)


# ------------------------------------------------------------------------------------- oracles
@pytest.mark.parametrize("arch", RECURRENT)
def test_each_cell_matches_a_step_by_step_numpy_oracle(arch):
    cfg = recurrent_config(arch, n_layers=3, d_hidden=6, n_ctx=7, d_vocab=4)
    params = _random_params(cfg, 1)
    tokens = _tokens(cfg)
    logits, cache = transformer.run_with_cache(params, cfg, tokens)
    want_logits, want_cache = numpy_forward(cfg, params, tokens)
    np.testing.assert_allclose(logits, want_logits, atol=2e-5, rtol=0)
    assert list(cache) == transformer.hook_names(cfg)
    for name, value in want_cache.items():
        np.testing.assert_allclose(cache[name], value, atol=2e-5, rtol=0)
    assert cfg.num_params == sum(a.size for a in jax.tree_util.tree_leaves(params))


def _flax_cell_params(arch, p):
    """Our merged layer parameters laid out as flax.linen's LSTMCell / GRUCell / SimpleCell."""
    W_x, W_h, b = (np.asarray(p[k]) for k in ("W_x", "W_h", "b"))
    H = W_h.shape[0]
    cols = lambda a, k: a[..., k * H:(k + 1) * H]  # noqa: E731
    if arch == "rnn":
        return {"i": {"kernel": W_x, "bias": b}, "h": {"kernel": W_h}}
    if arch == "lstm":
        out = {}
        for k, g in enumerate("ifgo"):
            out[f"i{g}"] = {"kernel": cols(W_x, k)}
            out[f"h{g}"] = {"kernel": cols(W_h, k), "bias": cols(b, k)}
        return out
    out = {}
    for k, g in enumerate("rzn"):
        out[f"i{g}"] = {"kernel": cols(W_x, k), "bias": cols(b, k)}
        out[f"h{g}"] = {"kernel": cols(W_h, k)}
    out["hn"]["bias"] = np.asarray(p["b_hn"])
    return out


@pytest.mark.parametrize("arch", RECURRENT)
def test_each_cell_follows_the_equations_of_flax_linen_cells(arch):
    cfg = recurrent_config(arch, n_layers=1, d_hidden=5, n_ctx=6, d_vocab=3)
    params = _random_params(cfg, 2)
    tokens = _tokens(cfg, seed=3)
    cell = {"rnn": nn.SimpleCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[arch](features=5)
    flax_params = {"params": _flax_cell_params(arch, params["layers_0"])}
    x = np.asarray(params["W_E"])[tokens]
    carry = cell.initialize_carry(jax.random.key(0), x[:, 0].shape)
    outs = []
    for t in range(cfg.n_ctx):
        carry, h = cell.apply(flax_params, carry, x[:, t])
        outs.append(h)
    _, cache = transformer.run_with_cache(params, cfg, tokens)
    np.testing.assert_allclose(cache["layers.0.hook_hidden"], np.stack(outs, 1), atol=2e-5)


def test_the_oracle_can_fail():
    """A swapped pair of LSTM gates or a dropped GRU bias changes the outputs well beyond the
    tolerance above."""
    cfg = LSTMConfig(n_layers=1, d_hidden=6, n_ctx=5, d_vocab=3)
    params = _random_params(cfg, 4)
    tokens = _tokens(cfg)
    swapped = jax.tree_util.tree_map(lambda a: a, params)
    W = np.asarray(params["layers_0"]["W_h"])
    swapped["layers_0"]["W_h"] = jnp.asarray(np.concatenate([W[:, 6:12], W[:, :6], W[:, 12:]], 1))
    base = numpy_forward(cfg, params, tokens)[0]
    assert np.abs(numpy_forward(cfg, swapped, tokens)[0] - base).max() > 1e-2
    gcfg = GRUConfig(n_layers=1, d_hidden=6, n_ctx=5, d_vocab=3)
    gparams = _random_params(gcfg, 4)
    dropped = jax.tree_util.tree_map(lambda a: a, gparams)
    dropped["layers_0"]["b_hn"] = jnp.zeros(6)
    logits = transformer.run_with_cache(gparams, gcfg, tokens)[0]
    assert np.abs(numpy_forward(gcfg, dropped, tokens)[0] - logits).max() > 1e-2


# ------------------------------------------------------------------------------------- causality
def _all_architectures():
    small = dict(n_ctx=6, d_vocab=3)
    return [ModelConfig(n_layers=2, d_model=8, d_head=4, d_mlp=16, **small),
            LinearBottleneckConfig(n_layers=1, d_model=8, d_head=4, d_mlp=16, **small),
            *(recurrent_config(a, n_layers=2, d_hidden=8, **small) for a in RECURRENT)]


def test_every_registered_architecture_is_covered():
    assert {c.arch for c in _all_architectures()} == set(registry.ARCHITECTURES)


@pytest.mark.parametrize("cfg", _all_architectures(), ids=lambda c: c.arch)
def test_causality_changing_token_t_changes_no_output_before_t(cfg):
    params = _random_params(cfg, 0)
    tokens = _tokens(cfg, batch=4)
    logits = np.asarray(transformer.forward(params, cfg, tokens))
    for t in range(cfg.n_ctx):
        changed = tokens.copy()
        changed[:, t] = (changed[:, t] + 1) % cfg.d_vocab
        other = np.asarray(transformer.forward(params, cfg, changed))
        np.testing.assert_allclose(other[:, :t], logits[:, :t], atol=1e-6, rtol=0)
        assert np.abs(other[:, t] - logits[:, t]).max() > 1e-4  # the change is seen at t


# ------------------------------------------------------------------------------------- patches
@pytest.mark.parametrize("arch", RECURRENT)
def test_patches_at_hooks(arch):
    cfg = recurrent_config(arch, n_layers=2, d_hidden=5, n_ctx=6, d_vocab=3)
    params = _random_params(cfg, 5)
    tokens = _tokens(cfg, batch=4)
    assert transformer.patch_hooks(cfg) == transformer.hook_names(cfg)
    logits, cache = transformer.run_with_cache(params, cfg, tokens)
    zero = {h: np.zeros((4, 6, 5), np.float32) for h in transformer.hook_names(cfg)}
    zl, zc = transformer.run_with_patches(params, cfg, tokens, zero)
    np.testing.assert_array_equal(zl, logits)
    rng = np.random.default_rng(6)
    for name in transformer.hook_names(cfg):
        t = 2
        delta = np.zeros((4, 6, 5), np.float32)
        delta[:, t] = rng.normal(size=(4, 5))
        patched, pcache = transformer.run_with_patches(params, cfg, tokens, {name: delta})
        change = np.abs(np.asarray(patched) - np.asarray(logits)).max(axis=(0, 2))
        assert np.all(change[:t] == 0) and change[t] > 1e-4 and change[t + 1] > 1e-5
        np.testing.assert_allclose(pcache[name][:, t], cache[name][:, t] + delta[:, t], atol=1e-6)
        # exactly the oracle's semantics: added before layer l+1 and step t+1 read it
        want_logits, want_cache = numpy_forward(cfg, params, tokens, {name: delta})
        np.testing.assert_allclose(patched, want_logits, atol=2e-5)
        for h, value in want_cache.items():
            np.testing.assert_allclose(pcache[h], value, atol=2e-5)
    with pytest.raises(ValueError, match="no attention patterns"):
        transformer.attention_patterns(params, cfg, tokens)


# ------------------------------------------------------------------------------------- configs
def test_recurrent_configs_round_trip_and_validate():
    for arch in RECURRENT:
        cfg = recurrent_config(arch, d_hidden=16, n_ctx=8, d_vocab=5)
        assert cfg.n_layers == 4 and cfg.arch == arch
        assert transformer.model_config_from_dict(cfg.to_dict()) == cfg
        train = TrainConfig(process="mess3", model=recurrent_config(arch, d_vocab=3))
        assert TrainConfig.from_dict(train.to_dict()) == train
    assert RNNConfig().d_hidden == 64
    with pytest.raises(ValueError, match="abstract"):
        RecurrentConfig()
    with pytest.raises(ValueError, match="not 'gru'"):
        LSTMConfig(arch="gru")
    with pytest.raises(ValueError, match="d_hidden"):
        GRUConfig(d_hidden=0)
    with pytest.raises(ValueError, match="unknown keys"):
        transformer.model_config_from_dict({"arch": "lstm", "d_model": 3})


# ------------------------------------------------------------------------------------- training
def _z1r_config(**changes):
    model = GRUConfig(n_layers=1, d_hidden=16, n_ctx=6, d_vocab=2)
    base = dict(process="z1r", model=model, steps=200, batch_size=64, lr=1e-2, warmup_steps=10,
                eval_every=100, log_every=50, steps_per_call=50, seed=0)
    return TrainConfig(**{**base, **changes})


def test_a_tiny_gru_trained_on_z1r_reaches_the_optimum(tmp_path):
    result = transformer.train(_z1r_config(), tmp_path / "run", progress=False)
    ev = result.final_eval
    assert ev["eval_exact"]
    assert ev["loss_gap"] < 0.01  # nats per token, optimum ~0.337 (the untrained net: ~0.69)
    first = transformer.load_run(tmp_path / "run").metrics[0]
    assert first["loss_gap"] > 0.1


def test_a_recurrent_run_resumes_bitwise(tmp_path):
    cfg = _z1r_config(steps=30, eval_every=15, log_every=5, steps_per_call=5)
    full = transformer.train(cfg, tmp_path / "full", progress=False)
    transformer.train(cfg, tmp_path / "cut", progress=False, stop_after=12)
    resumed = transformer.train(None, tmp_path / "cut", resume=True, progress=False)
    assert resumed.step == full.step == 30
    for a, b in zip(jax.tree_util.tree_leaves(resumed.params),
                    jax.tree_util.tree_leaves(full.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_two_devices_give_the_same_loss_curve_for_a_gru(tmp_path):
    script = f"""
        import json, transformer
        from transformer import GRUConfig, TrainConfig
        import jax
        assert len(jax.devices()) == 2
        cfg = TrainConfig(process="mess3", model=GRUConfig(n_layers=2, d_hidden=8, n_ctx=5),
                          steps=20, batch_size=32, lr=1e-2, warmup_steps=5, eval_every=20,
                          log_every=5, steps_per_call=5, seed=1, micro_batch_size=8)
        curves = {{}}
        for n in (1, 2):
            transformer.train(cfg.replace(num_devices=n), r"{tmp_path}/d%d" % n, progress=False)
            curves[n] = [(m["step"], m["train_loss"])
                         for m in transformer.load_run(r"{tmp_path}/d%d" % n).metrics if m["step"] > 0]
        print(json.dumps(curves))
    """
    curves = run_on_two_cpu_devices(script)
    one, two = np.array(curves["1"]), np.array(curves["2"])
    assert one.shape == two.shape and one[-1, 0] == 20
    assert np.ptp(one[:, 1]) > 1e-3
    np.testing.assert_allclose(two[:, 1], one[:, 1], rtol=2e-5)
