"""digest: themed newsletter digests from selected articles."""

__version__ = "0.1.0"
