"""Experiments and reproductions of published results, one module each (``compmech reproduce``)."""
