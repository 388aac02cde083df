"""SMP Challenge submission export: predictions for the unlabelled official test posts in the
challenge's JSON format.

    python -m smpp_utils.analysis.submission --predictions PRED.parquet --out SUBMISSION.json
        [--profile P] [--column y_pred] [--details "..."] [--external-data-used]

Format (SMP Challenge 2020 / 2023 web pages, "Submission"; the same in every year since 2019):

    {"version": "VERSION 1.2",
     "result": [{"post_id": "post6374637", "popularity_score": 2.1345}, ...],
     "external_data": {"used": "true", "details": "VGG-19 pre-trained on ImageNet training set"}}

``post_id`` is ``"post"`` + the numeric Pid (the official files hold Pids as numbers; the
challenge's example ids are "post<digits>"); ``popularity_score`` is on the label scale
(log-views), rounded to 4 decimals. Entries follow ascending Pid.

The official test posts are the rows of ``data/<profile>/posts.parquet`` read from the test
files (``source_split == "test"``): real SMPD's unlabelled 180,581 posts, or SMPD-Sim's
later-in-time posts. The predictions file is a parquet (or CSV) with a ``Pid`` column and a
score column (``--column``; default: ``y_pred``, else ``popularity_score``); optional ``split``
and ``variant``/``seed`` columns must already be filtered to one model by the caller.

Checks before anything is written, each error naming what is wrong: every official test Pid
has exactly one finite prediction; no duplicated Pid; no Pid that is not an official test
post (a prediction for a train post means the wrong file was passed). Nothing partial is
ever written: the JSON is written atomically, only after every check passed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import paths
from ..core.io import read_parquet, write_text

VERSION = "VERSION 1.2"
SCORE_COLUMNS = ("y_pred", "popularity_score")


class SubmissionError(ValueError):
    """The predictions cannot make a complete, valid submission."""


def official_test_pids(posts: pd.DataFrame) -> np.ndarray:
    """Pids of the official (unlabelled) test posts, ascending."""
    if "source_split" not in posts:
        raise SubmissionError("posts table has no 'source_split' column (not the canonical table of stage data)")
    pids = posts.loc[posts["source_split"].astype(str) == "test", "Pid"].to_numpy(dtype=np.int64)
    if len(pids) == 0:
        raise SubmissionError("the posts table holds no official test posts (source_split == 'test')")
    return np.sort(pids)


def read_predictions(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: predictions file not found")
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return read_parquet(path)[0]
    raise SubmissionError(f"{path}: expected a .parquet or .csv predictions file")


def validated_scores(preds: pd.DataFrame, test_pids, column: str | None = None,
                     source: str = "predictions") -> pd.Series:
    """Score per official test Pid (ascending), or :class:`SubmissionError` naming the problem."""
    if "Pid" not in preds:
        raise SubmissionError(f"{source}: no 'Pid' column; it has {list(preds.columns)}")
    col = column or next((c for c in SCORE_COLUMNS if c in preds), None)
    if col is None or col not in preds:
        raise SubmissionError(f"{source}: no score column {column or ' / '.join(SCORE_COLUMNS)!r}; "
                              f"it has {list(preds.columns)}")
    pid = pd.to_numeric(preds["Pid"], errors="coerce")
    if pid.isna().any() or (pid != np.floor(pid)).any():
        bad = preds["Pid"][pid.isna() | (pid != np.floor(pid))].iloc[0]
        raise SubmissionError(f"{source}: Pid {bad!r} is not an integer id")
    pid = pid.astype(np.int64)
    dup = pid[pid.duplicated()]
    if len(dup):
        raise SubmissionError(f"{source}: {dup.nunique()} Pids predicted more than once, e.g. {dup.iloc[0]} "
                              "(filter the file to one model, seed and split)")
    test = pd.Index(np.asarray(test_pids, dtype=np.int64))
    extra = pid[~pid.isin(test)]
    if len(extra):
        raise SubmissionError(f"{source}: {len(extra)} Pids are not official test posts, e.g. {extra.iloc[0]} "
                              "(predictions of another split or dataset?)")
    scores = pd.Series(pd.to_numeric(preds[col], errors="coerce").to_numpy(dtype=float), index=pid.to_numpy())
    missing = test[~test.isin(scores.index)]
    if len(missing):
        raise SubmissionError(f"{source}: {len(missing)} of {len(test)} official test posts have no "
                              f"prediction, e.g. Pid {missing[0]}; refusing a partial submission")
    scores = scores.reindex(test)
    bad = scores[~np.isfinite(scores.to_numpy())]
    if len(bad):
        raise SubmissionError(f"{source}: non-finite {col!r} for Pid {bad.index[0]} ({bad.iloc[0]!r})")
    return scores


def submission(scores: pd.Series, details: str = "", external_used: bool = False) -> dict:
    return {"version": VERSION,
            "result": [{"post_id": f"post{int(p)}", "popularity_score": round(float(s), 4)}
                       for p, s in scores.items()],
            "external_data": {"used": "true" if external_used else "false", "details": details}}


def write_submission(preds: pd.DataFrame, posts: pd.DataFrame, out, column: str | None = None,
                     details: str = "", external_used: bool = False, source: str = "predictions") -> Path:
    """Validate, then write the submission JSON atomically (nothing is written on error)."""
    scores = validated_scores(preds, official_test_pids(posts), column, source)
    doc = submission(scores, details, external_used)
    assert all(math.isfinite(r["popularity_score"]) for r in doc["result"])
    return write_text(out, json.dumps(doc, indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.analysis.submission",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", required=True, help="parquet/CSV with Pid and a score column")
    ap.add_argument("--out", required=True, help="submission JSON to write")
    ap.add_argument("--profile", default=None, help="profile whose posts.parquet names the test posts")
    ap.add_argument("--column", default=None, help=f"score column (default: {' or '.join(SCORE_COLUMNS)})")
    ap.add_argument("--details", default="", help="external_data.details text")
    ap.add_argument("--external-data-used", action="store_true", help="set external_data.used to 'true'")
    args = ap.parse_args(argv)
    from ..core import config

    profile = config.active_profile(args.profile)
    try:
        posts, _ = read_parquet(paths.data_dir(profile) / "posts.parquet")
        out = write_submission(read_predictions(args.predictions), posts, args.out, args.column,
                               args.details, args.external_data_used, source=str(args.predictions))
    except (SubmissionError, FileNotFoundError) as exc:
        print(f"submission: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({len(official_test_pids(posts))} official test posts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
