"""The pipeline layer: what happens to a trained run, one module per stage.

* :mod:`~compmech.pipeline.probing` - probe a run (every hook, controls, baselines, every
  checkpoint, with the scale-by-scale geometry of :func:`compmech.compare_geometry`) into
  ``probe.json`` (:class:`~compmech.pipeline.probing.ProbeReport`);
* :mod:`~compmech.pipeline.decoders` - nonlinear read-outs (k-nearest neighbours, a 2-layer MLP)
  beside the linear probe;
* :mod:`~compmech.pipeline.fractal` - dimension estimates of learned vs true belief clouds fitted
  over all scales;
* :mod:`~compmech.pipeline.figures` - every figure (belief clouds, MSPs, curves, experiment panels);
* :mod:`~compmech.pipeline.reproduce` - one-command reproductions of published results;
* :mod:`~compmech.pipeline.jobs` - experiments as resumable, parallel jobs with typed results;
* :mod:`~compmech.pipeline.bottleneck`, :mod:`~compmech.pipeline.sweep` - two experiments;
* :mod:`~compmech.pipeline.reports` - what experiment reports share (environment, gallery);
* :mod:`~compmech.pipeline.process_info` - the facts ``compmech info`` prints;
* :mod:`~compmech.pipeline.records` - typed results written to and read from JSON.

It imports the theory (``compmech``) and the models (``transformer``); the command line imports it.
This package's ``__init__`` imports nothing, so that ``compmech --help`` stays fast: import the
stage you need, e.g. ``from compmech.pipeline.probing import analyze_run``.
"""
