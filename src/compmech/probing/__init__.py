"""The probe stage: what a trained network's activations say about the process's beliefs.

Entry point: :func:`compmech.probing.run.probe_run` (``compmech probe RUN_DIR``) probes a run's
hooks at its checkpoints with the controls and baselines, the decoders and the geometry, and
writes ``probe.json`` (:class:`compmech.probing.report.ProbeReport`).

* :mod:`~compmech.probing.linear` - the linear probe (:class:`~compmech.probing.linear.BeliefProbe`)
  and the scores' definitions;
* :mod:`~compmech.probing.inputs` - the probe's inputs, folds and baseline features;
* :mod:`~compmech.probing.crossval` - cross-validated probes from sufficient statistics;
* :mod:`~compmech.probing.prefix_probe` - the probe protocol of Riechers, Elliott & Shai (2025):
  deduplicated prefixes, 10-fold choice of the pseudo-inverse cut-off;
* :mod:`~compmech.probing.targets` - what the probe reads (beliefs, plane coordinates, factors);
* :mod:`~compmech.probing.data` - a run's probe data, hooks, activations and split policy;
* :mod:`~compmech.probing.decoders` - nonlinear read-outs (k-nearest neighbours, a 2-layer MLP);
  :mod:`~compmech.probing.decoding` fits them on novel-prefix points beside the exact lookups;
* :mod:`~compmech.probing.job` - one probe invocation's state (activations collected once per
  checkpoint, stage timer);
* :mod:`~compmech.probing.geometry` - the learned cloud's geometry beside the theory's, scale by
  scale;
* :mod:`~compmech.probing.report`, :mod:`~compmech.probing.summary` - the typed results and their
  printed lines;
* :mod:`~compmech.probing.ensembles` - the probe of a seed ensemble and its spread;
* :mod:`~compmech.probing.structure1d` - how a one-number-wide coordinate splits the beliefs.

It imports the theory (``compmech``) and the models (``transformer``), never the mechanisms,
figures, experiments or command line. This ``__init__`` imports nothing, so that the light modules
(:mod:`~compmech.probing.linear`) stay light: import the module you need.
"""
