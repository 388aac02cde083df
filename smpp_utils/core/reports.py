"""Writing report artefacts: tables (md/csv/tex), figures with fixed metadata (so reruns
do not churn), and metrics JSON. Everything is written atomically."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path, write_json, write_text  # noqa: E402

# fixed figure metadata: no creation date or software version, so a rerun is byte-stable
_PNG_META = {"Software": None}
_PDF_META = {"CreationDate": None, "Producer": None, "Creator": None}
VECTOR_SUFFIX = ".pdf"   # the vector copy save_figure writes beside every PNG


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
    """Save a matplotlib/seaborn figure as PNG, and as PDF beside it (:func:`save_vector`),
    without volatile metadata, then close it.

    ``data``: the numbers behind the figure, written beside it as ``<stem>.csv`` (what DVC's
    ``plots:`` and a reader who wants the values use)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=_PNG_META)
    save_vector(fig, path)
    plt.close(fig)
    if data is not None:
        with atomic_path(path.with_suffix(".csv")) as tmp:
            data.to_csv(tmp, index=False, float_format="%.6g")
    return path


def save_vector(fig, path) -> Path:
    """The figure as PDF beside ``path`` (``<stem>.pdf``), without creation date or software
    version (byte-stable reruns): the copy a paper or a reviewer takes, the PNG is for pages."""
    out = Path(path).with_suffix(VECTOR_SUFFIX)
    with atomic_path(out, suffix=VECTOR_SUFFIX) as tmp:
        fig.savefig(tmp, bbox_inches="tight", metadata=_PDF_META)
    return out


def _titles(fig) -> list[str]:
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return [sup] + [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]


def name_dataset(fig, label: str):
    """Make sure the figure names its dataset (``data.prepare.dataset_label``: the SMPD-Sim
    regime or SMPD): unless ``label`` already appears in the suptitle or an axes title, it is
    added to the suptitle (appended after the existing one, if any). Returns ``fig``."""
    if not label:
        raise ValueError("name_dataset: empty dataset label")
    if any(label in t for t in _titles(fig)):
        return fig
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    fig.suptitle(f"{sup} - {label}" if sup else label, fontsize=10)
    return fig


def untruncate_bars(fig):
    """Every axes holding bars gets a value axis that starts at 0 (bars whose base is cut off
    exaggerate differences): the x axis for horizontal bars, the y axis otherwise."""
    from matplotlib.container import BarContainer

    for ax in fig.axes:
        for cont in ax.containers:
            if not isinstance(cont, BarContainer):
                continue
            horizontal = getattr(cont, "orientation", None) == "horizontal"
            lo, hi = ax.get_xlim() if horizontal else ax.get_ylim()
            if lo > 0:
                (ax.set_xlim if horizontal else ax.set_ylim)(0, hi)
            elif hi < 0:
                (ax.set_xlim if horizontal else ax.set_ylim)(lo, 0)
    return fig


def reviewer_ready(fig, label: str):
    """:func:`name_dataset` + :func:`untruncate_bars`; returns ``fig``."""
    return untruncate_bars(name_dataset(fig, label))


# keys that name a duration or a throughput: they vary run to run, so they are no result
_TIMING_KEY = re.compile(r"(seconds|_per_s|sec_per_epoch)$")


def split_timings(metrics: dict) -> tuple[dict, dict]:
    """(results, timings): every key (at any depth) naming a duration or throughput
    (``*seconds``, ``*_per_s``, ``sec_per_epoch``) goes to ``timings``, the rest stays."""
    results, timings = {}, {}
    for k, v in metrics.items():
        if _TIMING_KEY.search(str(k)):
            timings[k] = v
        elif isinstance(v, dict):
            r, t = split_timings(v)
            results[k] = r
            if t:
                timings[k] = t
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            parts = [split_timings(x) if isinstance(x, dict) else (x, {}) for x in v]
            results[k] = [r for r, _ in parts]
            if any(t for _, t in parts):
                timings[k] = [t for _, t in parts]  # same positions as the results list
        else:
            results[k] = v
    return results, timings


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_metrics(path, metrics: dict) -> Path:
    """Metrics JSON with sorted keys: results only, so a rerun shows no diff. Durations and
    throughputs found in ``metrics`` (see :func:`split_timings`) are merged into the stage's
    timings file ``<reports>/timings/<stem>.json`` instead (git-ignored)."""
    path = Path(path)
    results, timings = split_timings(metrics)
    if timings:
        tpath = path.parent.parent / "timings" / f"{path.stem}.json"
        old = json.loads(tpath.read_text()) if tpath.is_file() else {}
        write_json(tpath, _merge(old, timings))
    return write_json(path, results)


def write_timings(profile: str, stage: str, timings: dict) -> Path:
    """Wall-clock seconds and throughputs of one stage run, kept apart from the result
    metrics: ``<reports>/timings/<stage>.json`` (git-ignored; they vary run to run)."""
    from . import paths

    return write_json(paths.reports_dir(profile) / "timings" / f"{stage}.json", timings)


def mean_std_cell(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
