"""compmech: computational mechanics of belief states, and tests of whether networks learn them.

Light at import: numpy and JAX only (no flax, optax or scikit-learn).

Processes are classical :class:`HMM` s or generalized :class:`GHMM` s (signed matrices, quantum and
post-quantum processes); every theory function takes either. :func:`mixture`, :func:`product` and
:func:`markov_approximation` compose processes; :func:`load_hmm` (alias :func:`load_process`) reads
any of them, or a composition spec, from JSON, and :func:`process_from_dict` from a dict. Files of
the Generative Processes Specification v1.0 load the same way (:mod:`compmech.spec`;
:func:`save_spec` writes them); its non-linear factored processes are :class:`StatefulProcess` es,
which the theory functions also accept. Composite tokens are big-endian (:func:`encode_tokens`).

Example:
    >>> import compmech
    >>> hmm = compmech.get_process("mess3")
    >>> samples = compmech.sample(hmm, num_sequences=4, seq_len=10, seed=0)
    >>> samples.beliefs.shape
    (4, 10, 3)
"""

from compmech._version import __version__ as __version__
from compmech.asymptotics import (
    EntropyRateConfig,
    entropy_rate,
    excess_entropy,
    myopic_limit,
    statistical_complexity,
)
from compmech.blackwell import blackwell_beliefs, blackwell_sample
from compmech.blind import (
    BlindShare,
    BlindSubspace,
    prediction_blind_share,
    prediction_blind_subspace,
)
from compmech.chain import factor_chain
from compmech.comparison import ComparisonConfig, DimensionFit, GeometryComparison, compare_geometry
from compmech.compose import (
    FactoredBeliefs,
    factor_beliefs,
    factored_beliefs,
    joint_tokens,
    mixture,
    product,
    product_tokens,
    resolve_process,
)
from compmech.decay import ConstrainedDecay, constrained_decay
from compmech.dimensions import fractal_dimensions
from compmech.factored import FactoredProcess, Selectors, independent_factors
from compmech.geometry import (
    belief_colors,
    belief_plane_basis,
    belief_plane_coordinates,
    belief_plane_projection,
    kaplan_yorke_dimension,
    lyapunov_spectrum,
    pca_projection,
    simplex_projection,
)
from compmech.history import (
    EquivalentHistory,
    equivalent_history,
    history_tokens,
    lookup_errors,
    markov_lookup,
)
from compmech.hmm import GHMM, HMM, Process, change_basis
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
    mixture_component_losses,
    myopic_entropy,
    optimal_cross_entropy_nats,
    synchronization_profile,
)
from compmech.markov_approx import markov_approximation
from compmech.msp import MixedStateTree, mixed_state_tree
from compmech.msp_graph import MixedStatePresentation, mixed_state_presentation
from compmech.nonergodic import StatefulMixture
from compmech.process_io import load_hmm, load_process, process_from_dict, save_hmm
from compmech.processes import (
    CATALOGUE,
    GENERALIZED_PROCESSES,
    PROCESSES,
    REFERENCES,
    WRAPPERS,
    get_process,
    process_parameters,
)
from compmech.spec import load_spec, process_from_spec, read_spec, save_spec, spec_dict
from compmech.stateful import StatefulProcess, as_stateful
from compmech.tokens import decode_tokens, encode_tokens
from compmech.validation import Composition
from compmech.wrappers import (
    binary_encoded,
    channel_matrix,
    inflated_vocabulary,
    leaky,
    noisy_channel,
)
from compmech.zoo import (
    arch,
    cycle,
    days_of_week,
    leaky_rrxor,
    matching_parens,
    mr_name,
    quantum_rrxor,
    quantum_rrxor_kraus,
    strata,
    wing,
)

__all__ = [
    "CATALOGUE",
    "GENERALIZED_PROCESSES",
    "GHMM",
    "BlindShare",
    "BlindSubspace",
    "HMM",
    "DimensionFit",
    "EntropyRateConfig",
    "EquivalentHistory",
    "GeometryComparison",
    "ComparisonConfig",
    "Composition",
    "ConstrainedDecay",
    "FactoredBeliefs",
    "MixedStatePresentation",
    "MixtureLosses",
    "MixedStateTree",
    "PROCESSES",
    "REFERENCES",
    "WRAPPERS",
    "Filtered",
    "StatefulProcess",
    "StatefulMixture",
    "FactoredProcess",
    "Process",
    "Samples",
    "Selectors",
    "all_words",
    "arch",
    "spec_dict",
    "save_spec",
    "read_spec",
    "process_from_spec",
    "load_spec",
    "encode_tokens",
    "decode_tokens",
    "as_stateful",
    "belief_colors",
    "belief_plane_basis",
    "belief_plane_coordinates",
    "belief_plane_projection",
    "binary_encoded",
    "blackwell_beliefs",
    "blackwell_sample",
    "block_entropy",
    "compare_geometry",
    "constrained_decay",
    "change_basis",
    "channel_matrix",
    "cycle",
    "days_of_week",
    "entropy_rate",
    "enumerate_words",
    "equivalent_history",
    "excess_entropy",
    "factor_beliefs",
    "factor_chain",
    "factored_beliefs",
    "filter_beliefs",
    "fractal_dimensions",
    "get_process",
    "history_tokens",
    "inflated_vocabulary",
    "independent_factors",
    "joint_tokens",
    "kaplan_yorke_dimension",
    "leaky",
    "leaky_rrxor",
    "load_hmm",
    "load_process",
    "log_probability",
    "lookup_errors",
    "lyapunov_spectrum",
    "markov_approximation",
    "markov_lookup",
    "matching_parens",
    "mixed_state_presentation",
    "mixed_state_tree",
    "mixture",
    "mr_name",
    "mixture_component_losses",
    "myopic_entropy",
    "noisy_channel",
    "myopic_limit",
    "optimal_cross_entropy_nats",
    "pca_projection",
    "prediction_blind_share",
    "prediction_blind_subspace",
    "process_from_dict",
    "process_parameters",
    "product",
    "product_tokens",
    "quantum_rrxor",
    "quantum_rrxor_kraus",
    "resolve_process",
    "sample",
    "save_hmm",
    "simplex_projection",
    "statistical_complexity",
    "strata",
    "synchronization_profile",
    "wing",
]
