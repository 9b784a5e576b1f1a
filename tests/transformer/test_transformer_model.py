"""Model invariants: causality, hook names/shapes/equalities, config round-trips, activations."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import transformer
from transformer import ModelConfig, TrainConfig

TINY = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=4, d_mlp=32, n_ctx=6, d_vocab=4)


@pytest.fixture(scope="module")
def params():
    return transformer.init_params(TINY, 0)


def _random_tokens(n, p, vocab, seed):
    return np.random.default_rng(seed).integers(0, vocab, size=(n, p)).astype(np.int32)


def test_defaults_are_the_paper_model():
    cfg = ModelConfig()
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.n_ctx, cfg.d_vocab,
            cfg.act_fn) == (4, 64, 1, 8, 256, 10, 3, "relu")
    params = transformer.init_params(cfg, 0)
    leaves = jax.tree_util.tree_leaves(params)
    assert sum(a.size for a in leaves) == cfg.num_params
    assert all(a.dtype == jnp.float32 for a in leaves)


def test_hook_names_and_shapes(params):
    tokens = _random_tokens(3, 5, TINY.d_vocab, 0)
    logits, cache = transformer.run_with_cache(params, TINY, tokens)
    assert logits.shape == (3, 5, TINY.d_vocab) and logits.dtype == jnp.float32
    expected = ["hook_embed", "hook_pos_embed"]
    for layer in range(TINY.n_layers):
        expected += [f"blocks.{layer}.hook_resid_{k}" for k in ("pre", "mid", "post")]
    expected.append("ln_final.hook_normalized")
    assert list(cache) == expected == transformer.hook_names(TINY)
    for name, value in cache.items():
        assert value.shape == (3, 5, TINY.d_model), name


def test_hook_equalities(params):
    tokens = _random_tokens(4, 6, TINY.d_vocab, 1)
    logits, cache = transformer.run_with_cache(params, TINY, tokens)
    np.testing.assert_array_equal(cache["blocks.0.hook_resid_pre"],
                                  cache["hook_embed"] + cache["hook_pos_embed"])
    np.testing.assert_array_equal(cache["hook_embed"], np.asarray(params["W_E"])[tokens])
    np.testing.assert_array_equal(cache["hook_pos_embed"][1], params["W_pos"][:6])
    for layer in range(TINY.n_layers - 1):
        np.testing.assert_array_equal(cache[f"blocks.{layer}.hook_resid_post"],
                                      cache[f"blocks.{layer + 1}.hook_resid_pre"])
    # final LayerNorm: zero mean, unit variance before the affine map; logits = normalized W_U + b
    last = np.asarray(cache[f"blocks.{TINY.n_layers - 1}.hook_resid_post"], np.float64)
    mu, var = last.mean(-1, keepdims=True), last.var(-1, keepdims=True)
    ln = (last - mu) / np.sqrt(var + 1e-5) * np.asarray(params["ln_final"]["w"]) + np.asarray(
        params["ln_final"]["b"])
    np.testing.assert_allclose(cache["ln_final.hook_normalized"], ln, atol=1e-5)
    np.testing.assert_allclose(
        logits, ln @ np.asarray(params["W_U"]) + np.asarray(params["b_U"]), atol=1e-4)
    np.testing.assert_array_equal(transformer.forward(params, TINY, tokens), logits)


def _reference_forward(p, cfg, tokens):
    """The architecture written out in float64 numpy, one sequence, head and query at a time."""
    def ln(x, q):
        c = x - x.mean(-1, keepdims=True)
        return c / np.sqrt((c * c).mean(-1, keepdims=True) + 1e-5) * q["w"] + q["b"]

    H, dh = cfg.n_heads, cfg.d_head
    outputs = []
    for seq in tokens:
        P = len(seq)
        resid = p["W_E"][seq] + p["W_pos"][:P]
        posts = []
        for layer in range(cfg.n_layers):
            blk = p[f"blocks_{layer}"]
            qkv = ln(resid, blk["ln1"]) @ blk["attn"]["W_QKV"] + blk["attn"]["b_QKV"]
            z = np.zeros((P, H * dh))
            for h in range(H):
                q, k, v = (qkv[:, j * H * dh + h * dh: j * H * dh + (h + 1) * dh] for j in range(3))
                for i in range(P):
                    s = k[: i + 1] @ q[i] / np.sqrt(dh)
                    w = np.exp(s - s.max())
                    z[i, h * dh:(h + 1) * dh] = (w / w.sum()) @ v[: i + 1]
            resid = resid + z @ blk["attn"]["W_O"] + blk["attn"]["b_O"]
            hidden = np.maximum(ln(resid, blk["ln2"]) @ blk["mlp"]["W_in"] + blk["mlp"]["b_in"], 0)
            resid = resid + hidden @ blk["mlp"]["W_out"] + blk["mlp"]["b_out"]
            posts.append(resid)
        logits = ln(resid, p["ln_final"]) @ p["W_U"] + p["b_U"]
        outputs.append((logits, posts))
    return outputs


def test_forward_matches_a_reference_implementation(params):
    """Every parameter (biases included) perturbed, two heads: logits and resid_post equal an
    independent float64 loop implementation."""
    rng = np.random.default_rng(5)
    noisy = jax.tree_util.tree_map(
        lambda a: np.asarray(a, np.float64) + 0.3 * rng.normal(size=a.shape), params)
    tokens = _random_tokens(5, 6, TINY.d_vocab, 6)
    logits, cache = transformer.run_with_cache(
        jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), noisy), TINY, tokens)
    for b, (ref_logits, ref_posts) in enumerate(_reference_forward(noisy, TINY, tokens)):
        np.testing.assert_allclose(logits[b], ref_logits, atol=2e-4, rtol=1e-4)
        for layer, post in enumerate(ref_posts):
            np.testing.assert_allclose(cache[f"blocks.{layer}.hook_resid_post"][b], post,
                                       atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("t", [0, 2, 5])
def test_causality(params, t):
    """Changing token t leaves logits and every residual stream at positions < t unchanged, and
    changes them at position t."""
    tokens = _random_tokens(8, 6, TINY.d_vocab, 2)
    changed = tokens.copy()
    changed[:, t] = (changed[:, t] + 1) % TINY.d_vocab
    la, ca = transformer.run_with_cache(params, TINY, tokens)
    lb, cb = transformer.run_with_cache(params, TINY, changed)
    np.testing.assert_array_equal(la[:, :t], lb[:, :t])
    for name in ca:
        np.testing.assert_array_equal(ca[name][:, :t], cb[name][:, :t], err_msg=name)
    assert np.abs(np.asarray(la[:, t]) - np.asarray(lb[:, t])).max() > 1e-6


def test_shorter_inputs_match_prefix(params):
    tokens = _random_tokens(5, 6, TINY.d_vocab, 3)
    full = transformer.forward(params, TINY, tokens)
    short = transformer.forward(params, TINY, tokens[:, :3])
    np.testing.assert_allclose(short, full[:, :3], atol=1e-6)


def test_init_params_deterministic_and_seeded():
    a = transformer.init_params(TINY, 7)
    b = transformer.init_params(TINY, jax.random.key(7))
    c = transformer.init_params(TINY, 8)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(
        jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(c), strict=True) if x.std() > 0)


def test_collect_activations_matches_cache_and_batches(params):
    tokens = _random_tokens(37, 6, TINY.d_vocab, 4)
    hooks = ["blocks.1.hook_resid_post", "hook_embed"]
    acts = transformer.collect_activations(params, TINY, tokens, hooks=hooks, batch_size=8)
    assert set(acts) == set(hooks)
    _, cache = transformer.run_with_cache(params, TINY, tokens)
    for h in hooks:
        assert acts[h].shape == (37, 6, TINY.d_model) and acts[h].dtype == np.float32
        assert isinstance(acts[h], np.ndarray)
        np.testing.assert_allclose(acts[h], cache[h], atol=1e-5)
    everything = transformer.collect_activations(params, TINY, tokens[:3])
    assert list(everything) == transformer.hook_names(TINY)


def test_collect_activations_rejects_bad_input(params):
    with pytest.raises(ValueError, match="unknown hooks"):
        transformer.collect_activations(params, TINY, [[0, 1]], hooks=["blocks.9.hook_resid_post"])
    with pytest.raises(ValueError, match="0..3"):
        transformer.collect_activations(params, TINY, [[0, 4]])
    with pytest.raises(ValueError, match="n_ctx"):
        transformer.collect_activations(params, TINY, np.zeros((1, 7), int))


def test_config_round_trip_and_validation():
    cfg = TrainConfig(process="z1r", process_params={"p": 0.3}, model=TINY, steps=10, bos=True)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and isinstance(again.model, ModelConfig)
    with pytest.raises(ValueError, match="act_fn"):
        ModelConfig(act_fn="tanh")
    with pytest.raises(ValueError, match="n_layers"):
        ModelConfig(n_layers=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)


def test_one_hook_label_serves_every_architecture():
    from transformer.config import MODEL_CONFIGS
    from transformer.registry import CONCAT, hook_label, probe_hooks

    expected = {"blocks.0.hook_resid_pre": "embedding", "blocks.3.hook_resid_post": "block 4 output",
                "ln_final.hook_normalized": "final LayerNorm", "hook_embed": "embedding",
                "layers.2.hook_hidden": "layer 3 hidden", "bottleneck.hook_z": "bottleneck z",
                "bottleneck.hook_readout": "bottleneck read-out", CONCAT: "all layers (concatenated)",
                # not a probe site: unchanged, never mislabelled
                "blocks.2.hook_resid_pre": "blocks.2.hook_resid_pre",
                "blocks.12.hook_resid_post": "block 13 output"}
    assert {name: hook_label(name) for name in expected} == expected
    assert hook_label("blocks.3.hook_resid_post", short=True) == "resid_post@3"
    assert hook_label("layers.2.hook_hidden", short=True) == "layers.2.hook_hidden"
    for name, cls in MODEL_CONFIGS.items():
        hooks = probe_hooks(cls(d_vocab=3))
        labels = [hook_label(h) for h in hooks]
        # every probe site of every architecture gets its own human label
        assert all(label != h for label, h in zip(labels, hooks, strict=True)), name
        assert len(set(labels)) == len(labels), name
