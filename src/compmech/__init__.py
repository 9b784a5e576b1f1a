"""compmech: computational mechanics of belief states, and tests of whether networks learn them.

Light at import: numpy and JAX only (no flax, optax or scikit-learn).

Example:
    >>> import compmech
    >>> hmm = compmech.get_process("mess3")
    >>> samples = compmech.sample(hmm, num_sequences=4, seq_len=10, seed=0)
    >>> samples.beliefs.shape
    (4, 10, 3)
"""

from compmech.hmm import HMM, load_hmm, save_hmm
from compmech.inference import (
    Filtered,
    Samples,
    all_words,
    enumerate_words,
    filter_beliefs,
    log_probability,
    sample,
)
from compmech.information import (
    block_entropy,
    myopic_entropy,
    optimal_cross_entropy_nats,
    synchronization_profile,
)
from compmech.msp import MixedStateTree, mixed_state_tree
from compmech.processes import PROCESSES, get_process, process_parameters

__version__ = "0.1.0"

__all__ = [
    "HMM",
    "MixedStateTree",
    "PROCESSES",
    "Filtered",
    "Samples",
    "all_words",
    "block_entropy",
    "enumerate_words",
    "filter_beliefs",
    "get_process",
    "load_hmm",
    "log_probability",
    "mixed_state_tree",
    "myopic_entropy",
    "optimal_cross_entropy_nats",
    "process_parameters",
    "sample",
    "save_hmm",
    "synchronization_profile",
]
