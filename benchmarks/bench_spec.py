"""Benchmark: the Generative Processes Specification v1.0 support.

Run: ``python benchmarks/bench_spec.py [--repeats 3]``. Prints

1. the conformance count (vectors of tests/data/spec_conformance_v1.json passed / total, run by the
   test suite's runner);
2. the five-factor process of the factored-representations paper (3 x mess3(x=0.15, alpha=0.6) +
   2 x tom_quantum(alpha=1, beta=3), vocabulary 432): time to load it from a file and build its
   depth-2 mixed-state tree (186,624 words). tom_quantum is a signed GHMM, which v1.0 cannot
   express (``save_spec`` refuses it; the message is printed), so the real process is timed from
   our own format (a ``{"kind": "product"}`` file), and the spec path is timed on a v1.0 file of
   the same sizes whose two 4-token factors are non-negative stand-ins (``random_hmm`` with 3
   states and 4 tokens), both through its joint HMM and through the stateful protocol; the real
   process is also timed through the stateful protocol (``compmech.independent_factors``);
3. the mixed-state-tree speed of non-linear conditional processes (fully conditional,
   conditional transitions) against a linear one of the same sizes (a sequential chain: joint HMM
   and the same chain through the stateful protocol), five factors with two variants each.

Wall times are best of ``--repeats`` (the machine may be shared); the load average is printed.
On a loaded machine, multithreaded BLAS contends for the cores (a 243 x 243 SVD took 0.45 s at
load 12); ``OPENBLAS_NUM_THREADS=1`` gives steadier numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import compmech
from compmech.spec import read_spec

ROOT = Path(__file__).resolve().parents[1]
MESS3 = {"process": "mess3", "params": {"x": 0.15, "alpha": 0.6}}
TOM = {"process": "tom_quantum", "params": {"alpha": 1.0, "beta": 3.0}}


def best_seconds(fn, repeats: int) -> tuple[float, object]:
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def conformance() -> tuple[int, int]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_spec_conformance import VECTORS, run  # the test suite's runner

    passed = 0
    for vector in VECTORS:
        try:
            run(vector)
            passed += 1
        except AssertionError as err:
            print(f"  FAILED {vector['id']}: {err}")
    return passed, len(VECTORS)


def factor(T, init=None) -> dict:
    out = {"component_type": "hmm", "transition_matrices": np.asarray(T).tolist()}
    if init is not None:
        out["initial_state"] = np.asarray(init).tolist()
    return out


def stand_ins() -> list:
    return [compmech.get_process("random_hmm", num_states=3, vocab_size=4, seed=s) for s in (1, 2)]


def five_factor(folder: Path, repeats: int) -> None:
    ours = folder / "five_factor_ours.json"
    ours.write_text(json.dumps({"kind": "product", "name": "factored_paper",
                                "factors": [MESS3] * 3 + [TOM] * 2}))
    real = compmech.load_hmm(ours)
    try:
        compmech.save_spec(real, folder / "refused.json")
    except ValueError as err:
        print(f"  save_spec on the real process: refused: {err}")
    mess3 = compmech.get_process("mess3", x=0.15, alpha=0.6)
    spec = {"type": "factored", "structure": {"type": "independent"},
            "factors": [factor([mess3.transition_matrices])] * 3
            + [factor([p.transition_matrices]) for p in stand_ins()]}
    spec_path = folder / "five_factor_spec.json"
    spec_path.write_text(json.dumps(spec))

    def load_and_tree(path):
        return lambda: compmech.mixed_state_tree(compmech.load_hmm(path), 2)

    def stateful_tree():
        return compmech.mixed_state_tree(read_spec(json.loads(spec_path.read_text())), 2)

    def stateful_real():
        factors = [compmech.resolve_process(f) for f in json.loads(ours.read_text())["factors"]]
        return compmech.mixed_state_tree(compmech.independent_factors(factors), 2)

    for label, fn in [("ours (real: 3 mess3 + 2 tom_quantum), joint GHMM 243 states", load_and_tree(ours)),
                      ("spec v1.0 (2 stand-in HMM factors), joint HMM 243 states", load_and_tree(spec_path)),
                      ("spec v1.0 (same file), stateful protocol, state 15", stateful_tree),
                      ("ours (real), factors through the stateful protocol, state 15",
                       stateful_real)]:
        seconds, tree = best_seconds(fn, repeats)
        print(f"  {label}: load + depth-2 tree {seconds:.3f} s ({tree.probabilities[2].shape[0]:,} "
              f"words at depth 2, vocabulary {432})")
    load_s, _ = best_seconds(lambda: compmech.load_hmm(ours), repeats)
    print(f"  load only (ours, real process): {load_s:.3f} s")


def conditional_speed(repeats: int) -> None:
    rng = np.random.default_rng(0)
    mess3 = [compmech.get_process("mess3", x=0.15, alpha=0.6), compmech.get_process("mess3")]
    quad = stand_ins()
    families = [[m.transition_matrices for m in mess3]] * 3 + [[q.transition_matrices for q in quad]] * 2
    sizes = [3, 3, 3, 4, 4]
    inits = [np.full(3, 1 / 3)] * 3 + [np.full(3, 1 / 3)] * 2
    facs = [factor(f, e) for f, e in zip(families, inits, strict=True)]

    def others(i):
        return int(np.prod([v for j, v in enumerate(sizes) if j != i]))

    chain = [None] + [rng.integers(0, 2, sizes[i - 1]).tolist() for i in range(1, 5)]
    full = [rng.integers(0, 2, others(i)).tolist() for i in range(5)]
    sequential = {"type": "sequential", "control_maps": chain}
    structures = {
        "sequential chain (linear), joint HMM": (sequential, True),
        "sequential chain (linear), stateful protocol": (sequential, False),
        "fully conditional (non-linear)": ({"type": "fully_conditional", "control_maps": full}, False),
        "conditional transitions (non-linear)": ({"type": "conditional_transitions",
                                                  "emission_control_maps": chain,
                                                  "transition_control_maps": full}, False),
    }
    specs = {label: ({"type": "factored", "factors": facs, "structure": st}, joint)
             for label, (st, joint) in structures.items()}
    times = {}
    for label, (spec, joint) in specs.items():
        p = compmech.process_from_spec(spec) if joint else read_spec(spec)
        seconds, tree = best_seconds(lambda p=p: compmech.mixed_state_tree(p, 2), repeats)
        times[label] = seconds
        print(f"  {label}: depth-2 tree {seconds:.3f} s ({tree.num_nodes:,} nodes, state size "
              f"{p.num_states})")
    base = times["sequential chain (linear), joint HMM"]
    same = times["sequential chain (linear), stateful protocol"]
    for label, seconds in times.items():
        print(f"  ratio {label}: {seconds / base:.2f} x the linear joint HMM, "
              f"{seconds / same:.2f} x the linear chain through the same protocol")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    passed, total = conformance()
    print(f"conformance vectors (spec v1.0, simplexity {compmech.spec.SPEC_COMMIT[:8]}): "
          f"{passed}/{total} passed")
    with tempfile.TemporaryDirectory() as tmp:
        print("five-factor process (vocabulary 432), load + depth-2 MSP tree:")
        five_factor(Path(tmp), args.repeats)
    print("MSP tree speed, five factors x two variants, vocabulary 432, depth 2:")
    conditional_speed(args.repeats)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
