"""Shared infrastructure: paths, params.yaml access, atomic IO and fingerprints, device, metrics, report writers, the papermill pipeline runner and the one trainer."""
