"""Data layer: the official SMPD reader, the SMPD-Sim simulator, splits, and loaders of
the canonical table that every later stage reads."""

from .splits import load_posts  # noqa: F401
