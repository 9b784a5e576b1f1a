"""Experiments: one module per experiment and per reproduction (``quantum``: Riechers, Elliott &
Shai 2025)."""
