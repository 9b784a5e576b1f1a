"""The experiments: many runs trained, probed and tabulated, and the one-command reproductions.

Entry point of every experiment: :func:`compmech.experiments.runner.run_experiment` (resumable,
parallel jobs with typed results, :mod:`~compmech.experiments.results`, tabulated by
:mod:`~compmech.experiments.tables`). One module per experiment and reproduction:
:mod:`~compmech.experiments.architectures`, :mod:`~compmech.experiments.sweep`,
:mod:`~compmech.experiments.bottleneck`, :mod:`~compmech.experiments.heads`,
:mod:`~compmech.experiments.mechanisms` (attention and intervention reports of a run),
:mod:`~compmech.experiments.reproduce` (published results),
:mod:`~compmech.experiments.factored` (arXiv 2602.02385; its typed results in
:mod:`~compmech.experiments.factored_results`, tables in :mod:`~compmech.experiments.factored_report`),
:mod:`~compmech.experiments.quantum` (Riechers, Elliott & Shai 2025, the authors' probe protocol;
networks, probes and jobs in :mod:`~compmech.experiments.quantum_probe`, the summary in
:mod:`~compmech.experiments.quantum_report`), :mod:`~compmech.experiments.icl` (arXiv 2505.18373;
typed results in :mod:`~compmech.experiments.icl_results`); :mod:`~compmech.experiments.reports`
holds what reports share (environment, gallery) and :mod:`~compmech.experiments.run_metrics` a run's loss
gap.

It may import every stage below it (theory, models, probing, mechanisms, figures); only the command
line imports it. This ``__init__`` imports nothing: import the module you need.
"""
