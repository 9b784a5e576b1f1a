"""The mechanisms stage: how a trained transformer computes its beliefs.

* :mod:`~compmech.mechanisms.attention` - attention against distance per head, beside the theory's
  decay rates (:func:`~compmech.mechanisms.attention.analyze_attention`);
* :mod:`~compmech.mechanisms.directions` - the linear algebra of belief interventions;
* :mod:`~compmech.mechanisms.interventions` - the theory's effects of an intervention and their
  measures;
* :mod:`~compmech.mechanisms.intervention_runs` - interventions on a trained run
  (:func:`~compmech.mechanisms.intervention_runs.analyze_interventions`);
* :mod:`~compmech.mechanisms.intervention_records` - their typed reports.

It imports the theory, the models and the probe stage; the figures, experiments and command line
import it. This ``__init__`` imports nothing: import the module you need.
"""
