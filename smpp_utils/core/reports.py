"""Writing report artefacts: tables (md/csv/tex), figures with fixed metadata (so reruns
do not churn), and metrics JSON. Everything is written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path, write_json, write_text  # noqa: E402

# fixed figure metadata: no creation date or software version, so a rerun is byte-stable
_PNG_META = {"Software": None}


def write_table(df: pd.DataFrame, directory, name: str, caption: str,
                formats: Iterable[str] = ("md", "csv"), floatfmt: str = ".4f",
                tex_df: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``df`` as ``<directory>/<name>.<fmt>``; the markdown carries ``caption`` above
    the table. ``tex_df`` (e.g. with \\textbf / \\underline marks) replaces ``df`` for tex."""
    directory = Path(directory)
    out = {}
    for fmt in formats:
        path = directory / f"{name}.{fmt}"
        if fmt == "md":
            text = f"{caption}\n\n{df.to_markdown(index=False, floatfmt=floatfmt)}\n"
            write_text(path, text)
        elif fmt == "csv":
            with atomic_path(path) as tmp:
                df.to_csv(tmp, index=False, float_format="%.6g")
        elif fmt == "tex":
            body = (tex_df if tex_df is not None else df).to_latex(index=False, escape=False,
                                                                  float_format="%.4f")
            write_text(path, f"% {caption}\n{body}")
        else:
            raise ValueError(f"unknown table format {fmt!r}")
        out[fmt] = path
    return out


def save_figure(fig, path, dpi: int = 120, data: pd.DataFrame | None = None) -> Path:
    """Save a matplotlib/seaborn figure as PNG without volatile metadata, then close it.

    ``data``: the numbers behind the figure, written beside it as ``<stem>.csv`` (what DVC's
    ``plots:`` and a reader who wants the values use)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=_PNG_META)
    plt.close(fig)
    if data is not None:
        with atomic_path(path.with_suffix(".csv")) as tmp:
            data.to_csv(tmp, index=False, float_format="%.6g")
    return path


def write_metrics(path, metrics: dict) -> Path:
    """Metrics JSON with sorted keys (declared as DVC metrics). Results only: wall-clock
    times and throughputs go through :func:`write_timings`, so a rerun shows no diff."""
    return write_json(path, metrics)


def write_timings(profile: str, stage: str, timings: dict) -> Path:
    """Wall-clock seconds and throughputs of one stage run, kept apart from the result
    metrics: ``<reports>/timings/<stage>.json`` (git-ignored; they vary run to run)."""
    from . import paths

    return write_json(paths.reports_dir(profile) / "timings" / f"{stage}.json", timings)


def mean_std_cell(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
