"""Project paths, built from the project root so notebooks run the same from
JupyterLab (cwd ``notebooks/``) and from papermill under DVC (cwd = root).

Every generated artefact lives in a profile-specific folder, so a ``ci`` test run
never clobbers the ``default`` outputs:

    data/<profile>/      canonical tables, splits, embeddings, features
    models/<profile>/    checkpoints
    reports/             tables/figures/metrics/notebooks of ``default`` (committed)
    reports/ci/          the same for ``ci`` (git-ignored; nbval and tests write here)
    reports/paper/       the same for ``paper`` (real SMPD; git-ignored)

(``REPORTS`` below must agree with ``<profile>.reports`` in params.yaml; a test checks it.)

Staging. The runner (``smpp_utils.pipeline.runner``) sets ``$SMPP_REPORTS_STAGING`` to a
scratch folder holding a copy of the profile's tables/figures/metrics; while it is set,
:func:`reports_dir` of that profile (``$SMPP_PROFILE``) returns the scratch folder, so a
stage writes its reports there (and still reads earlier stages' reports, e.g. ``data.json``),
and the runner moves what the stage wrote into :func:`final_reports_dir` only when the whole
notebook succeeded. A killed or failed run leaves ``reports/`` as the last complete run left it.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The folder holding ``params.yaml``: $SMPP_ROOT, else the first parent of the
    cwd with a params.yaml, else the parent of this package (editable install)."""
    env = os.environ.get("SMPP_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd().resolve()
    for cand in (cwd, *cwd.parents):
        if (cand / "params.yaml").is_file() and (cand / "smpp_utils").is_dir():
            return cand
    return Path(__file__).resolve().parents[2]


ROOT = project_root()


def data_dir(profile: str) -> Path:
    return ROOT / "data" / profile


def models_dir(profile: str) -> Path:
    return ROOT / "models" / profile


REPORTS = {"ci": "reports/ci", "default": "reports", "paper": "reports/paper", "rehearsal": "reports/rehearsal",
           "smp_video": "reports/smp_video"}
STAGING_ENV = "SMPP_REPORTS_STAGING"


def final_reports_dir(profile: str) -> Path:
    """Where the profile's reports live once a stage has succeeded."""
    if profile not in REPORTS:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(REPORTS)}")
    return ROOT / REPORTS[profile]


def reports_dir(profile: str) -> Path:
    """Where a stage writes (and reads) the profile's reports: the runner's staging folder
    while one is active for this profile, else :func:`final_reports_dir`."""
    staging = os.environ.get(STAGING_ENV)
    if staging and os.environ.get("SMPP_PROFILE") == profile:
        return Path(staging)
    return final_reports_dir(profile)


def staging_root(profile: str) -> Path:
    """Scratch space of the runner (git- and dvc-ignored): ``.staging/<profile>/``."""
    return ROOT / ".staging" / profile


def tables_dir(profile: str) -> Path:
    return reports_dir(profile) / "tables"


def figures_dir(profile: str) -> Path:
    return reports_dir(profile) / "figures"


def metrics_dir(profile: str) -> Path:
    return reports_dir(profile) / "metrics"


def resolve(path: str | os.PathLike | None) -> Path | None:
    """A path from params.yaml: absolute as is, relative to the project root otherwise."""
    if path is None or str(path) == "":
        return None
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() else ROOT / p


def portable(path: str | os.PathLike) -> str:
    """Inverse of :func:`resolve` for recording a path in an output: relative to the project
    root (posix) when inside it, absolute otherwise, so two clones write the same bytes."""
    p = Path(path)
    try:
        return p.resolve().relative_to(ROOT.resolve()).as_posix()
    except ValueError:
        return str(p)


def ensure_dirs(profile: str) -> None:
    for d in (data_dir(profile), models_dir(profile), tables_dir(profile),
              figures_dir(profile), metrics_dir(profile)):
        d.mkdir(parents=True, exist_ok=True)
