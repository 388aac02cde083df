"""params.yaml access.

``params.yaml`` holds a ``base`` block (every knob once, one YAML anchor per section), one
block per profile (``ci``, ``default``, ``paper``: ``name``, ``reports``, ``seed`` and one flat
section per pipeline stage, each a YAML merge of the base section with the profile's deltas)
and, as its last line, ``profile: *<name>`` - an alias of the active profile's block, so that
DVC can read ``profile.name``, ``profile.reports`` and ``profile.<section>.<key>`` without
nested interpolation. YAML resolves the aliases and merge keys on load; :func:`load_params`
returns the resolved mapping (plain dicts, no shared objects) after
:func:`smpp_utils.core.knobs.validate` has checked every knob of every profile.

A notebook's ``parameters`` cell holds two names, ``profile = None`` and ``overrides = None``:
the notebook reads its section by name (:func:`stage`), and papermill can pass a profile and a
dict of knob overrides (validated like params.yaml; ``-y "overrides: {epochs: 2}"``). The
runner passes only the profile. A knob of another section is read with :func:`knob`
(``config.knob("prototypes.clip_model", profile)``) or the whole section with :func:`stage`:
these call shapes are how the dvc.yaml generator finds the params each stage depends on
(``smpp_utils.pipeline.scan``), so a stage never reads a knob DVC does not track.

The profile is chosen by, in order: an explicit value, ``$SMPP_PROFILE``, params.yaml's
``profile`` alias.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import yaml

from . import knobs, paths, strict_yaml

PROFILES = knobs.PROFILES


def load_params(path=None) -> dict:
    """The resolved, validated params.yaml (``paths.ROOT / 'params.yaml'`` unless ``path``)."""
    p = paths.resolve(path) if path else paths.ROOT / "params.yaml"
    with open(p) as fh:
        try:
            params = strict_yaml.safe_load(fh)   # duplicate keys refused
        except yaml.YAMLError as exc:   # e.g. an alias used before its anchor
            raise knobs.KnobError(f"{p}: not valid YAML: {exc}") from None
    params = _plain(params)             # aliases share objects; callers may mutate their copy
    knobs.validate(params, source=p)
    return params


def _plain(obj):
    """A copy without shared sub-objects (``copy.deepcopy`` would keep the aliases' sharing)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def active_profile(explicit: str | None = None, params: dict | None = None) -> str:
    prof = explicit or os.environ.get("SMPP_PROFILE") or (params or load_params())["profile"]["name"]
    if prof not in PROFILES:
        raise ValueError(f"unknown profile {prof!r}; expected one of {PROFILES}")
    return prof


def profile_block(profile: str, params: dict | None = None) -> dict:
    """``{"name", "reports", "seed", "sections": {section: {knob: value}}}`` of ``profile``."""
    params = params or load_params()
    block = params[active_profile(profile, params)]
    return {"name": block["name"], "reports": block["reports"], "seed": block["seed"],
            "sections": {s: dict(block[s]) for s in knobs.SECTIONS}}


def section(stage_name: str, profile: str, params: dict | None = None) -> dict:
    params = params or load_params()
    block = params[profile]
    if stage_name not in knobs.SECTIONS:
        raise KeyError(f"params.yaml: profile '{profile}' has no section '{stage_name}'")
    return dict(block[stage_name])


def stage(stage_name: str, profile: str | None = None, overrides: dict | None = None,
          **given: Any) -> SimpleNamespace:
    """A stage's knobs: ``params.yaml[profile][stage_name]`` with ``overrides`` (a dict, e.g.
    from a notebook's ``overrides`` parameter) and ``given`` keyword values (not None) on top;
    ``seed`` comes from the profile block unless overridden.

    Unknown knobs are an error, so a typo cannot pass silently; overridden values are
    validated like params.yaml's (``overrides={"epochs": -1}`` is refused).
    """
    params = load_params()
    prof = active_profile(profile, params)
    sec = section(stage_name, prof, params)
    sec.setdefault("seed", params[prof]["seed"])
    given = {**(overrides or {}), **{k: v for k, v in given.items() if v is not None}}
    unknown = sorted(set(given) - set(sec))
    if unknown:
        raise KeyError(f"parameters {unknown} are not in params.yaml {prof}.{stage_name}")
    resolved = {**sec, **{k: v for k, v in given.items() if v is not None}}
    if given:
        knobs.validate_section(stage_name, {k: v for k, v in resolved.items() if k != "seed"},
                               where=f"{prof}.{stage_name}", source="notebook parameters",
                               seed=resolved["seed"])
    return SimpleNamespace(profile=prof, **resolved)


def knob(dotted: str, profile: str | None = None):
    """One knob of any section, ``"section.key"`` (e.g. ``"prototypes.clip_model"``), of the
    profile (the active one unless given)."""
    sec, _, key = dotted.partition(".")
    params = load_params()
    values = section(sec, active_profile(profile, params), params)
    if key not in values:
        raise KeyError(f"params.yaml: section {sec!r} has no knob {key!r}")
    return values[key]
