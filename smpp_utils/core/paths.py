"""Project paths, built from the project root so notebooks run the same from
JupyterLab (cwd ``notebooks/``) and from papermill under DVC (cwd = root).

Every generated artefact lives in a profile-specific folder, so a ``ci`` test run
never clobbers the ``default`` outputs:

    data/<profile>/      canonical tables, splits, embeddings, features
    models/<profile>/    checkpoints
    reports/             tables/figures/metrics/notebooks of ``default`` (committed) and of
                         ``paper`` (a real-data run regenerates the same tables in place)
    reports/ci/          the same for ``ci`` (git-ignored; nbval and tests write here)
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


def reports_dir(profile: str) -> Path:
    return ROOT / "reports" / "ci" if profile == "ci" else ROOT / "reports"


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


def ensure_dirs(profile: str) -> None:
    for d in (data_dir(profile), models_dir(profile), tables_dir(profile),
              figures_dir(profile), metrics_dir(profile)):
        d.mkdir(parents=True, exist_ok=True)
