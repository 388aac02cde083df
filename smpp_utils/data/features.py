"""Metadata features shared by the boosting stage (Paper A, stage 2) and the JRPP inputs.

User (photo_count, ispro, canbuypro, posts per user, user mean label, account age), time
(hour, weekday, month, days since the user's first post), text (title/tag counts and
lengths, empty or camera-style title), geo (present, accuracy), and category/subcategory
as categoricals.

The user mean label is the one feature that reads labels. It is computed **out of fold**
on train rows (a row never sees its own label, nor those of its fold) and from all train
rows for val/test rows; users with no train posts get NaN. Val/test labels are never read.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

CATEGORICAL_COLUMNS = ["category", "subcategory"]
NUMERIC_COLUMNS = [
    "photo_count", "ispro", "canbuypro", "user_posts", "user_mean_label", "user_label_count",
    "account_age_days", "hour", "weekday", "month", "days_since_first_post",
    "title_words", "title_len", "title_empty", "title_camera", "tag_count", "tags_len",
    "geo_present", "geoaccuracy", "mediatype_video",
]

_CAMERA = re.compile(r"^(img|dsc|dscn|dscf|pict|p|imag|photo|gopr|sam|_mg)[_\- ]?\d{2,}", re.I)


def oof_user_mean(uid: pd.Series, label: pd.Series, is_train: np.ndarray, folds: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean label, count) of the user's OTHER train posts outside the row's fold.

    Train rows: K-fold over train rows; the statistic comes from the other folds only.
    Non-train rows: from all train rows. NaN mean / 0 count when there is nothing to use.
    """
    uid = uid.reset_index(drop=True)
    label = label.reset_index(drop=True).astype(float)
    mean = np.full(len(uid), np.nan)
    count = np.zeros(len(uid))
    tr = np.flatnonzero(is_train)
    if len(tr) == 0:
        return mean, count
    if label.iloc[tr].isna().any():
        raise ValueError("train rows must all be labelled to compute the user mean label")

    def stats(src_rows):
        g = pd.DataFrame({"u": uid.iloc[src_rows].to_numpy(), "y": label.iloc[src_rows].to_numpy()})
        return g.groupby("u")["y"].agg(["sum", "count"])

    if folds >= 2 and len(tr) >= folds:
        for fit_idx, hold_idx in KFold(folds, shuffle=True, random_state=seed).split(tr):
            st = stats(tr[fit_idx])
            rows = tr[hold_idx]
            s = st.reindex(uid.iloc[rows].to_numpy())
            count[rows] = s["count"].fillna(0).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                mean[rows] = (s["sum"] / s["count"]).to_numpy()
    other = np.flatnonzero(~is_train)
    if len(other):
        st = stats(tr).reindex(uid.iloc[other].to_numpy())
        count[other] = st["count"].fillna(0).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[other] = (st["sum"] / st["count"]).to_numpy()
    return mean, count


def metadata_features(posts: pd.DataFrame, oof_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Feature frame aligned with ``posts`` (same index and order); needs a ``split`` column."""
    if "split" not in posts:
        raise KeyError("metadata_features: posts needs a 'split' column (use data.load_posts)")
    p = posts
    f = pd.DataFrame(index=p.index)
    f["photo_count"] = p["photo_count"].astype(float)
    f["ispro"] = p["ispro"].astype(float)
    f["canbuypro"] = p["canbuypro"].astype(float)
    f["user_posts"] = p.groupby("Uid")["Pid"].transform("count").astype(float)
    is_train = (p["split"] == "train").to_numpy()
    f["user_mean_label"], f["user_label_count"] = oof_user_mean(p["Uid"], p["label"], is_train,
                                                                oof_folds, seed)
    post = p["postdate"]
    first = p["photo_firstdate"]
    f["account_age_days"] = ((post - first).dt.total_seconds() / 86400).astype(float)
    f["hour"] = post.dt.hour.astype(float)
    f["weekday"] = post.dt.weekday.astype(float)
    f["month"] = post.dt.month.astype(float)
    user_first_post = post.groupby(p["Uid"]).transform("min")
    f["days_since_first_post"] = ((post - user_first_post).dt.total_seconds() / 86400).astype(float)
    title = p["title"].fillna("").astype(str)
    tags = p["tags"].fillna("").astype(str)
    f["title_words"] = title.str.split().str.len().astype(float)
    f["title_len"] = title.str.len().astype(float)
    f["title_empty"] = (title.str.strip() == "").astype(float)
    f["title_camera"] = title.str.strip().str.match(_CAMERA).astype(float)
    f["tag_count"] = tags.str.split().str.len().astype(float)
    f["tags_len"] = tags.str.len().astype(float)
    f["geo_present"] = p["latitude"].notna().astype(float)
    f["geoaccuracy"] = p["geoaccuracy"].astype(float)
    f["mediatype_video"] = (p["mediatype"].astype(str) == "video").astype(float)
    for c in CATEGORICAL_COLUMNS:
        f[c] = pd.Categorical(p[c].astype(str))
    return f[NUMERIC_COLUMNS + CATEGORICAL_COLUMNS]
