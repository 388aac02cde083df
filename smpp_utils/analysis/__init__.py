"""Analyses that read earlier stages' predictions only (never retrain): tail studies."""
