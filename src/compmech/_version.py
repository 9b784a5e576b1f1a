"""The package version (one place; read by the package, the CLI and dataset metadata)."""

__version__ = "0.1.0"
