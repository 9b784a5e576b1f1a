"""compmech: computational mechanics of belief states, and tests of whether networks learn them.

Light at import: numpy and JAX only (no flax, optax or scikit-learn).

Processes are classical :class:`HMM` s or generalized :class:`GHMM` s (signed matrices, quantum and
post-quantum processes); every theory function takes either. :func:`mixture`, :func:`product` and
:func:`markov_approximation` compose processes; :func:`load_hmm` (alias :func:`load_process`) reads
any of them, or a composition spec, from JSON, and :func:`process_from_dict` from a dict.

Example:
    >>> import compmech
    >>> hmm = compmech.get_process("mess3")
    >>> samples = compmech.sample(hmm, num_sequences=4, seq_len=10, seed=0)
    >>> samples.beliefs.shape
    (4, 10, 3)
"""

from compmech._version import __version__ as __version__
from compmech.blind import (
    BlindShare,
    BlindSubspace,
    prediction_blind_share,
    prediction_blind_subspace,
)
from compmech.comparison import DimensionFit, GeometryComparison, compare_geometry
from compmech.compose import (
    FactoredBeliefs,
    factor_beliefs,
    factored_beliefs,
    joint_tokens,
    markov_approximation,
    mixture,
    product,
    product_tokens,
    resolve_process,
)
from compmech.decay import ConstrainedDecay, constrained_decay
from compmech.geometry import (
    belief_colors,
    belief_plane_basis,
    belief_plane_coordinates,
    belief_plane_projection,
    fractal_dimensions,
    kaplan_yorke_dimension,
    lyapunov_spectrum,
    pca_projection,
    simplex_projection,
)
from compmech.hmm import (
    GHMM,
    HMM,
    Composition,
    Process,
    change_basis,
    load_hmm,
    load_process,
    process_from_dict,
    save_hmm,
)
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
    MixtureLosses,
    block_entropy,
    entropy_rate,
    excess_entropy,
    mixture_component_losses,
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
from compmech.processes import (
    CATALOGUE,
    GENERALIZED_PROCESSES,
    PROCESSES,
    get_process,
    process_parameters,
)

__all__ = [
    "CATALOGUE",
    "GENERALIZED_PROCESSES",
    "GHMM",
    "BlindShare",
    "BlindSubspace",
    "HMM",
    "DimensionFit",
    "GeometryComparison",
    "Composition",
    "ConstrainedDecay",
    "FactoredBeliefs",
    "MixedStatePresentation",
    "MixtureLosses",
    "MixedStateTree",
    "PROCESSES",
    "Filtered",
    "Process",
    "Samples",
    "all_words",
    "belief_colors",
    "belief_plane_basis",
    "belief_plane_coordinates",
    "belief_plane_projection",
    "blackwell_beliefs",
    "blackwell_sample",
    "block_entropy",
    "compare_geometry",
    "constrained_decay",
    "change_basis",
    "entropy_rate",
    "enumerate_words",
    "excess_entropy",
    "factor_beliefs",
    "factored_beliefs",
    "filter_beliefs",
    "fractal_dimensions",
    "get_process",
    "joint_tokens",
    "kaplan_yorke_dimension",
    "load_hmm",
    "load_process",
    "log_probability",
    "lyapunov_spectrum",
    "markov_approximation",
    "mixed_state_presentation",
    "mixed_state_tree",
    "mixture",
    "mixture_component_losses",
    "myopic_entropy",
    "optimal_cross_entropy_nats",
    "pca_projection",
    "prediction_blind_share",
    "prediction_blind_subspace",
    "process_from_dict",
    "process_parameters",
    "product",
    "product_tokens",
    "resolve_process",
    "sample",
    "save_hmm",
    "simplex_projection",
    "statistical_complexity",
    "synchronization_profile",
]
