"""Experiments and reproductions, one module each (the layout of issue 22): each trains models
with :mod:`transformer` and analyses them with the theory and probe stages.

* :mod:`compmech.experiments.factored`: ``compmech reproduce factored`` (arXiv 2602.02385).
"""
