"""Interventions that can tell: the beyond-next-token test, steering along the prediction-blind
subspace, the ceiling / same-belief / shuffled-probe controls, GHMM targets as beliefs, and the
command on tiny GHMM, mixture, product and recurrent runs.

Planted networks are built without training: activations ``x = c + A tau(eta) + N g`` (``g`` a
nuisance that varies from point to point in directions the probe ``W = A^+`` cannot see), whose
output at ``t`` is ``P(. | eta')`` and at ``t + 1`` is ``P(. | update(eta', x_{t+1}))`` with
``eta' = tau^-1(W x + b)``: an exact function of the probe's belief that carries it forward."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

import compmech
import transformer
from compmech import cli
from compmech.inference import enumerate_words, filter_beliefs
from compmech.mechanisms.directions import reduce_probe
from compmech.mechanisms.intervention_records import InterventionReport, InterventionSeedReport
from compmech.mechanisms.intervention_runs import (
    blind_targets,
    sample_ahead_pairs,
    sample_blind_pairs,
    sample_pairs,
)
from compmech.mechanisms.interventions import (
    CONDITIONS,
    MIN_NEXT_PROBABILITY,
    ActivationMoments,
    InterventionConfig,
    InterventionInputs,
    ahead_effects,
    belief_update,
    blind_effects,
    intervention_effects,
)
from compmech.probing.data import ProbeData
from compmech.probing.linear import BeliefProbe
from compmech.probing.targets import belief_targets, beliefs_from_targets
from transformer import ModelConfig, TrainConfig, recurrent_config


# ------------------------------------------------------------------------------ the theory side
@pytest.mark.parametrize("name", ["rrxor", "tom_quantum", "fanizza"])
def test_belief_update_is_the_filter_one_token_on(name):
    hmm = compmech.get_process(name)
    words, probs = enumerate_words(hmm, 4)
    words = words[probs > 0]
    beliefs = filter_beliefs(hmm, words).beliefs  # (N, 4, S): after x_1..x_t
    updated, prob = belief_update(hmm, beliefs[:, 1], words[:, 2])
    np.testing.assert_allclose(updated, beliefs[:, 2], atol=1e-10)
    np.testing.assert_allclose(prob, np.einsum("ns,nst->nt", beliefs[:, 1],
                                               hmm.transition_matrices[words[:, 2]])
                               @ hmm.right_eigenvector, atol=1e-12)


@pytest.mark.parametrize("name", ["tom_quantum", "fanizza", "mess3"])
def test_plane_coordinates_map_back_to_the_beliefs(name):
    hmm = compmech.get_process(name)
    words, probs = enumerate_words(hmm, 3)
    beliefs = filter_beliefs(hmm, words[probs > 0]).beliefs.reshape(-1, hmm.num_states)
    back = beliefs_from_targets(hmm, belief_targets(hmm, beliefs))
    np.testing.assert_allclose(back, beliefs, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        beliefs_from_targets(hmm, beliefs[:, :1])


def test_plane_coordinates_as_targets_are_refused_not_multiplied():
    """The crash of `compmech intervene` on a GHMM run: plane coordinates where beliefs belong."""
    hmm = compmech.get_process("tom_quantum")
    words, probs = enumerate_words(hmm, 3)
    beliefs = filter_beliefs(hmm, words[probs > 0]).beliefs[:, -1]
    coords = belief_targets(hmm, beliefs)  # (N, 2)
    x = np.random.default_rng(0).normal(size=(len(beliefs), 5))
    with pytest.raises(ValueError, match="probe coordinates"):
        intervention_effects(InterventionInputs(x, beliefs, coords),
                             BeliefProbe.from_coefficients(np.ones((2, 5)), np.zeros(2)),
                             hmm.emission_probabilities, lambda d: np.full((len(d), 4), 0.25))


@pytest.mark.parametrize("name", ["rrxor", "fanizza"])
def test_blind_targets_move_along_the_blind_subspace_only(name):
    hmm = compmech.get_process(name)
    words, probs = enumerate_words(hmm, 5)
    beliefs = filter_beliefs(hmm, words[probs > 0]).beliefs.reshape(-1, hmm.num_states)
    rng = np.random.default_rng(0)
    eta, donor = beliefs[rng.integers(0, len(beliefs), 300)], beliefs[rng.integers(0, len(beliefs), 300)]
    basis = compmech.prediction_blind_subspace(hmm).basis
    target, step = blind_targets(hmm, eta, donor, basis)
    moved = step > 0
    assert moved.sum() > 100
    diff = target - eta
    np.testing.assert_allclose(diff @ hmm.emission_probabilities, 0.0, atol=1e-12)  # prediction
    np.testing.assert_allclose(diff @ hmm.right_eigenvector, 0.0, atol=1e-12)  # on the plane
    assert np.linalg.norm(diff[moved], axis=1).min() > 1e-9
    if hmm.kind == "hmm":
        assert target[moved].min() >= -1e-12
    else:  # every word of length 2 keeps a non-negative probability
        T, r = hmm.transition_matrices, hmm.right_eigenvector
        assert np.einsum("ns,xst,ytu,u->nxy", target[moved], T, T, r).min() >= -1e-12


# ------------------------------------------------------------------------------ planted networks
class PlantedMachine:
    """The planted network of the module docstring (``k`` probe coordinates, nuisance width ``m``)."""

    def __init__(self, hmm, d=14, m=4, seed=0):
        rng = np.random.default_rng(seed)
        self.hmm = hmm
        k = belief_targets(hmm, np.zeros((1, hmm.num_states))).shape[1]
        q = np.linalg.qr(rng.normal(size=(d, k + m)))[0]
        self.A = q[:, :k] @ (rng.normal(size=(k, k)) + 3 * np.eye(k))
        self.N = 2.0 * q[:, k:]
        self.c = rng.normal(size=d)
        self.W = np.linalg.pinv(self.A)
        self.b = -self.W @ self.c

    def features(self, beliefs, nuisance):
        return self.c + belief_targets(self.hmm, beliefs) @ self.A.T + nuisance @ self.N.T

    def decode(self, x):
        return beliefs_from_targets(self.hmm, x @ self.W.T + self.b)

    def now(self, x):
        return self.decode(x) @ self.hmm.emission_probabilities

    def later(self, x, next_tokens):
        return belief_update(self.hmm, self.decode(x), next_tokens)[0] @ \
            self.hmm.emission_probabilities


@pytest.fixture(scope="module", params=["rrxor", "fanizza"])
def planted(request):
    """A planted machine on every word of length 6, as probe data (5 folds; fold 0 trains)."""
    hmm = compmech.get_process(request.param)
    words, probs = enumerate_words(hmm, 6)
    words = words[probs > 0].astype(np.int32)
    joint = filter_beliefs(hmm, words).beliefs
    machine = PlantedMachine(hmm)
    nuisance = np.random.default_rng(1).normal(size=joint.shape[:2] + (machine.N.shape[1],))
    feats = machine.features(joint.reshape(-1, hmm.num_states),
                             nuisance.reshape(-1, machine.N.shape[1])).reshape(
        joint.shape[:2] + (-1,))
    data = ProbeData(words, belief_targets(hmm, joint), None, np.arange(len(words)) % 5,
                     "enumerated", 0, joint_beliefs=joint)
    run = SimpleNamespace(hmm=hmm, bos_token=None)
    flat = feats.reshape(-1, feats.shape[-1])
    shuffled = BeliefProbe().fit(flat, np.random.default_rng(2).permutation(
        belief_targets(hmm, joint.reshape(-1, hmm.num_states))))
    mean, cov = flat.mean(0), np.cov(flat.T)
    # the probe in the minimum-norm form the interventions use (on the activations' span; for an
    # HMM the direction of A 1 is off the span, since beliefs sum to 1): the network reads it
    machine.W, machine.b = reduce_probe(machine.W, machine.b, mean, cov)
    machine.probe = BeliefProbe.from_coefficients(machine.W, machine.b)
    np.testing.assert_allclose(flat @ machine.W.T + machine.b, data.beliefs.reshape(len(flat), -1),
                               atol=1e-10)
    return SimpleNamespace(hmm=hmm, machine=machine, feats=feats, data=data, run=run,
                           mean=mean, cov=cov, shuffled=shuffled)


def _inputs(p, pairs, with_donors=True, next_tokens=None):
    """The pairs at their activations (with the ceiling and same-belief donors)."""
    donors = {}
    if with_donors:
        donors = dict(ceiling_features=p.feats[pairs.target_sequence, pairs.target_position],
                      swap_features=p.feats[pairs.swap_sequence, pairs.swap_position])
    return InterventionInputs(p.feats[pairs.sequence, pairs.position], pairs.beliefs,
                              pairs.targets, next_tokens=pairs.next_tokens if next_tokens is None
                              else next_tokens, **donors)


def _kw(p, with_shuffled=True):
    kw = dict(moments=ActivationMoments(p.mean, p.cov), to_probe=lambda b: belief_targets(p.hmm, b))
    if with_shuffled:
        kw.update(shuffled_probe=p.shuffled)
    return kw


SEED3 = InterventionConfig(seed=3)


def test_planted_exact_network_same_position(planted):
    p, m = planted, planted.machine
    pairs = sample_pairs(p.run, p.data, 400, seed=0)
    x = p.feats[pairs.sequence, pairs.position]
    eff = intervention_effects(_inputs(p, pairs), m.probe, p.hmm.emission_probabilities,
                               lambda d: m.now(x + d), SEED3, **_kw(p))
    for c in ("intervened", "intervened_cov", "ceiling"):
        assert eff.kl_bits[c].max() < 1e-9, c
    assert eff.own_kl_bits.max() < 1e-9
    assert eff.kl_bits["none"].mean() > 0.05 and eff.tv_from_none["random"].mean() > 1e-2
    # the output is a function of the probe's belief: no null-space change moves it
    assert eff.tv_from_none["null_space"].max() < 1e-12
    assert eff.tv_from_none["null_space_cov"].max() < 1e-12
    finite = eff.kl_bits["none"] < 5  # (where eta* allows a token eta rules out, q ~ 1e-17 noise)
    np.testing.assert_allclose(eff.kl_bits["null_space"][finite], eff.kl_bits["none"][finite],
                               atol=1e-9)
    # the shuffled probe's same-size move lands far from the target
    assert eff.kl_bits["shuffled_probe"].mean() > 10 * eff.kl_bits["intervened"].mean() + 1e-3
    # the same-belief swap changes the activation (the nuisance) but the output only as much as
    # the donor's belief differs, i.e. by exactly the theory's TV, and not at all at distance 0
    E = p.hmm.emission_probabilities
    swap = p.feats[pairs.swap_sequence, pairs.swap_position]
    assert np.linalg.norm(swap - x, axis=1).min() > 0.1
    theory = 0.5 * np.abs(pairs.swap_beliefs @ E - pairs.beliefs @ E).sum(1)
    np.testing.assert_allclose(eff.tv_from_none["same_belief"], theory, atol=1e-10)
    same = pairs.swap_distance < 1e-12
    if p.hmm.name == "rrxor":  # many prefixes share a belief
        assert same.sum() > 100
        assert eff.tv_from_none["same_belief"][same].max() < 1e-12
    np.testing.assert_allclose(np.linalg.norm(belief_targets(p.hmm, pairs.swap_beliefs)
                                              - belief_targets(p.hmm, pairs.beliefs), axis=1),
                               pairs.swap_distance, atol=1e-12)
    assert np.all(pairs.swap_position == pairs.position)


def test_planted_exact_network_beyond_the_next_token(planted):
    p, m = planted, planted.machine
    pairs = sample_ahead_pairs(p.run, p.data, 400, seed=1)
    assert pairs.position.max() <= p.data.tokens.shape[1] - 2
    np.testing.assert_array_equal(pairs.next_tokens,
                                  p.data.tokens[pairs.sequence, pairs.position + 1])
    assert (belief_update(p.hmm, pairs.targets, pairs.next_tokens)[1] > MIN_NEXT_PROBABILITY).all()
    if p.hmm.name == "rrxor":  # deterministic XOR bits rule tokens out: draws were dropped
        assert pairs.dropped > 0
    x = p.feats[pairs.sequence, pairs.position]
    eff = ahead_effects(_inputs(p, pairs), m.probe, p.hmm,
                        lambda d: m.later(x + d, pairs.next_tokens), SEED3, **_kw(p))
    for c in ("intervened", "intervened_cov", "ceiling"):
        assert eff.kl_bits[c].max() < 1e-9, c
    assert eff.own_kl_bits.max() < 1e-9
    assert eff.kl_bits["none"].mean() > 0.02
    assert eff.tv_from_none["null_space"].max() < 1e-12
    with pytest.raises(ValueError, match="no probability"):
        bad = pairs.next_tokens.copy()
        zero = belief_update(p.hmm, pairs.targets, 1 - bad)[1] <= MIN_NEXT_PROBABILITY
        if not zero.any():
            raise ValueError("no probability (no such pair for this process)")
        ahead_effects(_inputs(p, pairs, next_tokens=1 - bad), m.probe, p.hmm,
                      lambda d: m.later(x + d, 1 - bad))


def test_planted_exact_network_blind_steering(planted):
    p, m = planted, planted.machine
    basis = compmech.prediction_blind_subspace(p.hmm).basis
    pairs = sample_blind_pairs(p.run, p.data, 400, 2, basis)
    assert pairs.sequence.size > 100
    x = p.feats[pairs.sequence, pairs.position]
    eff = blind_effects(_inputs(p, pairs, with_donors=False), m.probe, p.hmm,
                        lambda d: np.stack([m.now(x + d), m.later(x + d, pairs.next_tokens)], 1),
                        SEED3, **_kw(p, with_shuffled=False))
    assert eff.theory_tv_now.max() < 1e-12
    assert eff.tv_now["blind"].max() < 1e-10 and eff.tv_now["blind_cov"].max() < 1e-10
    assert eff.tv_now["random"].mean() > 1e-3  # a move of the same size does show now
    # it carries the steered belief forward: the later prediction moves exactly as the theory's
    assert eff.theory_tv_later.mean() > 0.02
    np.testing.assert_allclose(eff.tv_later["blind"], eff.theory_tv_later, atol=1e-10)
    assert eff.kl_later["blind"].max() < 1e-9
    assert eff.kl_later_own["none"].max() < 1e-9


def test_a_network_that_ignores_its_input_is_flat_everywhere(planted):
    p = planted
    V = p.hmm.vocab_size
    const = np.random.default_rng(5).dirichlet(np.ones(V))
    pairs = sample_pairs(p.run, p.data, 200, seed=0)
    m = p.machine
    eff = intervention_effects(_inputs(p, pairs), m.probe, p.hmm.emission_probabilities,
                               lambda d: np.broadcast_to(const, (len(d), V)), SEED3, **_kw(p))
    for c in CONDITIONS:
        assert np.all(eff.tv_from_none[c] == 0), c
        np.testing.assert_array_equal(eff.kl_bits[c], eff.kl_bits["none"])
    apairs = sample_ahead_pairs(p.run, p.data, 200, seed=1)
    aeff = ahead_effects(_inputs(p, apairs), m.probe, p.hmm,
                         lambda d: np.broadcast_to(const, (len(d), V)), SEED3, **_kw(p))
    for c in CONDITIONS:
        assert np.all(aeff.tv_from_none[c] == 0), c
    basis = compmech.prediction_blind_subspace(p.hmm).basis
    bpairs = sample_blind_pairs(p.run, p.data, 200, 2, basis)
    beff = blind_effects(_inputs(p, bpairs, with_donors=False), m.probe, p.hmm,
                         lambda d: np.broadcast_to(const, (len(d), 2, V)), SEED3,
                         **_kw(p, with_shuffled=False))
    for c in beff.tv_now:
        assert np.all(beff.tv_now[c] == 0) and np.all(beff.tv_later[c] == 0)
    assert beff.theory_tv_later.mean() > 0.02  # it should have moved


# ------------------------------------------------------------------------------ tiny trained runs
def _tiny(process_kw: dict, arch: str = "transformer", seed: int = 0) -> TrainConfig:
    vocab = TrainConfig(**process_kw).build_hmm().vocab_size
    if arch == "transformer":
        model = ModelConfig(n_layers=1, d_model=16, d_head=8, d_mlp=32, n_ctx=4, d_vocab=vocab)
    else:
        model = recurrent_config(arch, n_layers=1, d_hidden=12, n_ctx=4, d_vocab=vocab)
    return TrainConfig(**process_kw, model=model, steps=40, batch_size=64, eval_every=40,
                       log_every=20, steps_per_call=10, warmup_steps=5, lr=1e-2, seed=seed)


KINDS = {
    "tom_quantum": ({"process": "tom_quantum"}, "transformer"),
    "mixture": ({"hmm": compmech.mixture(["mess3", ("mess3", {"x": 0.15, "alpha": 0.6})],
                                         [0.3, 0.7]).to_dict()}, "transformer"),
    "product": ({"hmm": compmech.product(["mess3", "z1r"]).to_dict()}, "transformer"),
    "rrxor_gru": ({"process": "rrxor"}, "gru"),
}


@pytest.fixture(scope="module", params=list(KINDS))
def tiny_run(request, tmp_path_factory):
    kw, arch = KINDS[request.param]
    run_dir = tmp_path_factory.mktemp(request.param) / "run"
    transformer.train(_tiny(kw, arch), run_dir, progress=False)
    return request.param, run_dir


def test_intervene_on_tiny_runs_of_every_kind(tiny_run, capsys):
    kind, run_dir = tiny_run
    assert cli.main(["intervene", str(run_dir), "--pairs", "60", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "beyond the next token" in out and "prediction-blind steering" in out
    report = InterventionReport.read(run_dir / "mechanisms" / "interventions.json")
    run = transformer.load_run(run_dir)
    hmm = run.hmm
    assert list(report.hooks) == run.probe_hooks() and list(report.ahead) == run.probe_hooks()
    for h in report.hooks.values():
        for c in ("none", "intervened", "random", "null_space", "intervened_cov", "ceiling",
                  "same_belief", "shuffled_probe"):
            assert h.mean_kl_bits.value(c) is not None and np.isfinite(h.mean_kl_bits.value(c)), (
                h.hook, c)
        if h.probe_rank >= hmm.num_states - 1:  # else eta* is out of the probe's reach
            assert h.decode_error < 1e-4, h.hook
        assert h.tv_from_none.none == 0.0
    # the stored pairs are beliefs (eta r = 1), also for a GHMM
    with np.load(run_dir / "mechanisms" / "interventions.npz") as arrays:
        for key in ("beliefs", "targets"):
            assert arrays[key].shape[1] == hmm.num_states
            np.testing.assert_allclose(arrays[key] @ hmm.right_eigenvector, 1.0, atol=1e-9)
    # which hooks can reach t + 1: everything in a recurrent network; in a one-layer transformer
    # only the embedding, and a hook that cannot has no effect there at all
    reach = {h: a.reaches_next_position for h, a in report.ahead.items()}
    if kind == "rrxor_gru":
        assert all(reach.values())
    else:
        assert reach == {"blocks.0.hook_resid_pre": True, "blocks.0.hook_resid_post": False,
                         "ln_final.hook_normalized": False}
    for a in report.ahead.values():
        if not a.reaches_next_position:
            assert all(v in (None, 0.0) for v in a.tv_from_none.to_dict().values())
    dim = compmech.prediction_blind_subspace(hmm).dimension
    assert report.blind_dimension == dim
    if dim == 0:
        assert not report.blind and "not applicable" in report.blind_note
    else:
        assert report.blind_pairs > 0 and set(report.blind) == set(run.probe_hooks())
        for b in report.blind.values():
            assert b.theory_tv_now_max < 1e-9
            assert b.decode_error < 1e-4 or report.hooks[b.hook].probe_rank < hmm.num_states - 1


def test_intervene_over_seeds_reports_the_seed_spread(tmp_path, capsys):
    cfg = _tiny({"process": "mess3"})
    transformer.train_ensemble(cfg, [0, 1], tmp_path / "ens", progress=False)
    hook = "blocks.0.hook_resid_pre"
    assert cli.main(["intervene", str(tmp_path / "ens"), "--pairs", "40", "--hooks", hook,
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "seed spread" in out and "2 runs" in out
    summary = InterventionSeedReport.read(tmp_path / "ens" / "mechanisms" /
                                          "interventions_seeds.json")
    members = [json.loads((tmp_path / "ens" / f"seed-{s}" / "mechanisms" /
                           "interventions.json").read_text()) for s in (0, 1)]
    values = [m["hooks"][hook]["mean_kl_bits"]["intervened"] for m in members]
    spread = summary.kl_bits[hook]["intervened"]
    assert spread.values == pytest.approx(values)
    assert spread.mean == pytest.approx(np.mean(values))
    assert spread.std == pytest.approx(np.std(values, ddof=1))
    assert "seed spread" in summary.spread
    # the same from the members named one by one, with the summary where asked
    members = [str(tmp_path / "ens" / f"seed-{s}") for s in (0, 1)]
    assert cli.main(["intervene", *members, "--pairs", "40", "--hooks", hook, "--quiet",
                     "--summary", str(tmp_path / "seeds.json")]) == 2  # exists: --force needed
    assert "--force" in capsys.readouterr().err
    assert cli.main(["intervene", *members, "--pairs", "40", "--hooks", hook, "--quiet", "--force",
                     "--summary", str(tmp_path / "seeds.json")]) == 0
    again = InterventionSeedReport.read(tmp_path / "seeds.json")
    assert again.kl_bits[hook]["intervened"].values == pytest.approx(values)  # same seed, same pairs


# ------------------------------------------------------------------------------ the numbers script
def _script():
    from scripts import load_script

    return load_script("experiments/intervention_numbers.py")


def test_intervention_numbers_script_on_a_tiny_budget(tmp_path, capsys):
    script = _script()
    assert script.main(["--out", str(tmp_path), "--tiny", "--processes", "rrxor", "--archs", "gru",
                        "--seeds", "0", "1", "--pairs", "30"]) == 0
    out = capsys.readouterr().out
    assert "== rrxor, gru: 2 seeds" in out and "seed spread" in out
    assert "3-dimensional prediction-blind subspace" in out
    summary = InterventionSeedReport.read(tmp_path / "rrxor_gru" / "mechanisms" /
                                          "interventions_seeds.json")
    assert len(summary.runs) == 2
    row = summary.kl_bits["layers.0.hook_hidden"]
    assert all(row[c].std is not None for c in ("none", "intervened", "ceiling", "same_belief"))
    # the paper's RRXOR model and a GRU of the stated size
    cfg = script.config("rrxor", "transformer", minutes=5.0, tiny=False)
    assert (cfg.model.d_model, cfg.model.n_heads, cfg.model.d_head) == (128, 4, 16)
    assert cfg.minutes == 5.0
    gru = script.config("mess3", "gru", minutes=5.0, tiny=False).model
    assert (gru.arch, gru.n_layers, gru.d_hidden, gru.n_ctx) == ("gru", 4, 64, 10)
    assert script.main(["--out", str(tmp_path), "--seeds", "0", "0"]) == 2
