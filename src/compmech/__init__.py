"""compmech: computational mechanics of belief states, and tests of whether networks learn them.

Light at import: numpy and JAX only (no flax, optax or scikit-learn).

Example:
    >>> import compmech
    >>> hmm = compmech.get_process("mess3")
    >>> samples = compmech.sample(hmm, num_sequences=4, seq_len=10, seed=0)
    >>> samples.beliefs.shape
    (4, 10, 3)
"""

from compmech._version import __version__ as __version__
from compmech.comparison import DimensionFit, GeometryComparison, compare_geometry
from compmech.geometry import (
    belief_colors,
    fractal_dimensions,
    kaplan_yorke_dimension,
    lyapunov_spectrum,
    pca_projection,
    simplex_projection,
)
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
    entropy_rate,
    excess_entropy,
    myopic_entropy,
    optimal_cross_entropy_nats,
    statistical_complexity,
    synchronization_profile,
)
from compmech.msp import (
    MixedStatePresentation,
    MixedStateTree,
    blackwell_beliefs,
    blackwell_sample,
    mixed_state_presentation,
    mixed_state_tree,
)
from compmech.processes import PROCESSES, get_process, process_parameters

__all__ = [
    "HMM",
    "DimensionFit",
    "GeometryComparison",
    "MixedStatePresentation",
    "MixedStateTree",
    "PROCESSES",
    "Filtered",
    "Samples",
    "all_words",
    "belief_colors",
    "blackwell_beliefs",
    "blackwell_sample",
    "block_entropy",
    "compare_geometry",
    "entropy_rate",
    "enumerate_words",
    "excess_entropy",
    "filter_beliefs",
    "fractal_dimensions",
    "get_process",
    "kaplan_yorke_dimension",
    "load_hmm",
    "log_probability",
    "lyapunov_spectrum",
    "mixed_state_presentation",
    "mixed_state_tree",
    "myopic_entropy",
    "optimal_cross_entropy_nats",
    "pca_projection",
    "process_parameters",
    "sample",
    "save_hmm",
    "simplex_projection",
    "statistical_complexity",
    "synchronization_profile",
]
