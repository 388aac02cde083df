"""params.yaml access.

``params.yaml`` holds one key ``profile`` (ci | default | paper) and one block per
profile; each block has a ``seed`` and one flat section per pipeline stage. A notebook's
``parameters`` cell declares ``profile`` and the stage's knobs with value ``None``;
papermill (under DVC, see ``smpp_utils.core.pipeline``) passes every knob explicitly, while in
JupyterLab or nbval the ``None`` values are filled from params.yaml by :func:`stage`.

The profile is chosen by, in order: an explicit value, ``$SMPP_PROFILE``, params.yaml.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import yaml

from . import paths

PROFILES = ("ci", "default", "paper")


def load_params(path=None) -> dict:
    p = paths.resolve(path) if path else paths.ROOT / "params.yaml"
    with open(p) as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict) or "profile" not in params:
        raise ValueError(f"{p}: expected a mapping with a 'profile' key")
    for prof in PROFILES:
        if prof not in params:
            raise ValueError(f"{p}: missing the '{prof}' profile block")
    return params


def active_profile(explicit: str | None = None, params: dict | None = None) -> str:
    prof = explicit or os.environ.get("SMPP_PROFILE") or (params or load_params())["profile"]
    if prof not in PROFILES:
        raise ValueError(f"unknown profile {prof!r}; expected one of {PROFILES}")
    return prof


def section(stage_name: str, profile: str, params: dict | None = None) -> dict:
    params = params or load_params()
    block = params[profile]
    if stage_name not in block:
        raise KeyError(f"params.yaml: profile '{profile}' has no section '{stage_name}'")
    sec = dict(block[stage_name])
    for k, v in sec.items():
        if isinstance(v, (dict, list)):
            raise ValueError(f"params.yaml: {profile}.{stage_name}.{k} must be a flat scalar")
    return sec


def stage(stage_name: str, profile: str | None = None, **given: Any) -> SimpleNamespace:
    """Resolve a notebook's parameters: every knob given (not None) wins, the rest come
    from ``params.yaml[profile][stage_name]``; ``seed`` comes from the profile block.

    Unknown knobs are an error, so a typo in a parameters cell cannot pass silently.
    """
    params = load_params()
    prof = active_profile(profile, params)
    sec = section(stage_name, prof, params)
    sec.setdefault("seed", params[prof].get("seed", 0))
    unknown = sorted(set(given) - set(sec))
    if unknown:
        raise KeyError(f"parameters {unknown} are not in params.yaml {prof}.{stage_name}")
    resolved = {k: (given[k] if given.get(k) is not None else v) for k, v in sec.items()}
    return SimpleNamespace(profile=prof, **resolved)
