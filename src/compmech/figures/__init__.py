"""Every figure of the toolkit, drawn with matplotlib's object-oriented API.

Entry point: :func:`compmech.figures.run.make_figures` (``compmech figures RUN_DIR``) draws a
probed run's folder of figures.

* :mod:`~compmech.figures.common` - the belief plane, colours, captions and
  :func:`~compmech.figures.common.save`;
* :mod:`~compmech.figures.clouds` - belief clouds (theory beside learned) and curves;
* :mod:`~compmech.figures.factored` - the factored reproduction's explained-variance curves;
* :mod:`~compmech.figures.geometry` - the scale-by-scale geometry and the mixed-state tree;
* :mod:`~compmech.figures.incontext` - the in-context-learning reproduction's panels;
* :mod:`~compmech.figures.mechanisms` - attention and intervention figures;
* :mod:`~compmech.figures.panels` - the experiments' panels;
* :mod:`~compmech.figures.quantum` - the quantum reproduction's per-layer R^2 and CKA figures;
* :mod:`~compmech.figures.run` - a run's figure folder.

It imports the theory, the models, the probe and the mechanisms stages; the experiments and the
command line import it. ``import compmech`` does not import matplotlib: import the module you need.
"""
