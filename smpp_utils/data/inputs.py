"""Model inputs shared by JRPP and its baselines (notebook 04).

``build_inputs`` turns the canonical posts table, the frozen embeddings of stage 02 and
the metadata features into one dict of equal-length tensors per split:

    img [n, di]  txt [n, dt]  meta [n, dm]  meta_ctx [n, dm]  user [n]  cat [n]  tags [n, L]  y [n]  idx [n]

``user``: train users are 1..U, a user with no train post maps to 0 (a zero embedding row).
``tags``: ids of the train tag vocabulary (0 pad, 1 out-of-vocabulary).
``meta``: numeric metadata standardised with train statistics (NaN -> train mean, with
missing-value indicators). Every array is aligned by Pid and checked against the split
fingerprint, so embeddings of another split or dataset are refused.

``meta_ctx [n, dm]``: the same metadata as a post carries when it is *retrieved* as context
for another post (JRPP's bank): the label-derived columns (``LABEL_COLUMNS``: the user's
out-of-fold mean label) are set to 0, the train mean in standardised units. A train post's
own ``user_mean_label`` never reads its own label (out of fold), but a *neighbour's* does
read every train label of that user outside the neighbour's fold - including the query's
when they share a user (a second-order label leak). Candidates therefore carry no
label-derived metadata; a neighbour still carries its own label when the model retrieves
labels (``jrpp.use_bank_labels``), which is its label, never the query's. The label-free
``user_label_count`` stays. Missing-value indicators are label-free and stay too.

``assemble_inputs`` does the work on in-memory frames (tests perturb one label and rebuild);
``norm`` reuses the standardisation statistics of an earlier build (global train means/sds
are model constants, not a per-post input).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch

from ..core import paths
from .schema import all_subcategories
from .splits import SPLITS, load_posts
from .features import NUMERIC_COLUMNS, metadata_features
from ..core.io import load_arrays

MAX_TAGS = 16
LABEL_COLUMNS = ("user_mean_label",)   # metadata columns computed from train labels


def load_embedding(profile: str, spec: str, pids, fingerprint: str) -> np.ndarray:
    """``spec`` is 'file:array', e.g. 'clip:image' -> data/<profile>/emb/clip.npz['image']."""
    if ":" not in spec:
        raise ValueError(f"embedding spec {spec!r} must be 'file:array', e.g. 'clip:image'")
    fname, array = spec.split(":", 1)
    path = paths.data_dir(profile) / "emb" / f"{fname}.npz"
    _, arrays, _ = load_arrays(path, expect_fingerprint=fingerprint, pids=pids)
    if array not in arrays:
        raise KeyError(f"{path}: no array {array!r}; it has {sorted(arrays)}")
    return arrays[array].astype(np.float32)


def tag_vocabulary(tags_train: pd.Series, max_size: int = 5000, min_count: int = 2) -> dict[str, int]:
    counts = Counter(t for s in tags_train.fillna("") for t in s.lower().split())
    kept = [t for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
    return {t: i + 2 for i, t in enumerate(kept[:max_size])}


def encode_tags(tags: pd.Series, vocab: dict[str, int], max_len: int = MAX_TAGS) -> np.ndarray:
    out = np.zeros((len(tags), max_len), dtype=np.int64)
    for r, s in enumerate(tags.fillna("")):
        ids = [vocab.get(t, 1) for t in s.lower().split()][:max_len]
        out[r, :len(ids)] = ids
    return out


def standardise_meta(meta: pd.DataFrame, is_train: np.ndarray, norm: dict | None = None):
    """(standardised matrix with missing indicators, the statistics used). ``norm``: reuse
    {'mu', 'sd', 'cols_with_missing'} of an earlier call instead of fitting them on train."""
    x = meta.to_numpy(dtype=np.float64)
    missing = np.isnan(x)
    if norm is None:
        mu = np.nanmean(x[is_train], axis=0)
        mu = np.where(np.isnan(mu), 0.0, mu)
        sd = np.where(missing[is_train], mu, x[is_train]).std(axis=0)
        norm = {"mu": mu, "sd": np.where(sd > 0, sd, 1.0),
                "cols_with_missing": missing[is_train].any(axis=0) | missing.any(axis=0)}
    x = (np.where(missing, norm["mu"], x) - norm["mu"]) / norm["sd"]
    out = np.concatenate([x, missing[:, norm["cols_with_missing"]].astype(np.float64)], axis=1)
    return out.astype(np.float32), norm


def context_meta(meta: np.ndarray, columns) -> np.ndarray:
    """``meta`` as carried by a retrieved post: the label-derived columns (positions of
    ``LABEL_COLUMNS`` in ``columns``) set to 0 = the train mean (no second-order leak)."""
    out = meta.copy()
    for c in LABEL_COLUMNS:
        if c in columns:
            out[:, list(columns).index(c)] = 0.0
    return out


def build_inputs(profile: str, scheme: str = "random", image_emb: str = "clip:image",
                 text_emb: str = "minilm:text", use_metadata: bool = True, oof_folds: int = 5,
                 seed: int = 0):
    posts, fp = load_posts(profile, scheme)
    img = load_embedding(profile, image_emb, posts["Pid"], fp)
    txt = load_embedding(profile, text_emb, posts["Pid"], fp)
    return assemble_inputs(posts, fp, img, txt, use_metadata, oof_folds, seed, scheme=scheme)


def assemble_inputs(posts: pd.DataFrame, fp: str, img: np.ndarray, txt: np.ndarray,
                    use_metadata: bool = True, oof_folds: int = 5, seed: int = 0,
                    scheme: str = "random", norm: dict | None = None):
    """``build_inputs`` on in-memory frames (rows of ``img``/``txt`` aligned with ``posts``)."""
    is_train = (posts["split"] == "train").to_numpy()
    if use_metadata:
        meta, norm = standardise_meta(metadata_features(posts, oof_folds, seed)[NUMERIC_COLUMNS],
                                      is_train, norm)
        meta_ctx = context_meta(meta, NUMERIC_COLUMNS)
    else:
        meta = meta_ctx = np.zeros((len(posts), 0), dtype=np.float32)
    train_users = np.sort(posts.loc[is_train, "Uid"].unique())
    user_ids = {u: i + 1 for i, u in enumerate(train_users)}
    user = posts["Uid"].map(user_ids).fillna(0).astype(np.int64).to_numpy()
    cat_ids = {s: i for i, (_, s) in enumerate(all_subcategories())}
    unknown = sorted(set(posts["subcategory"]) - set(cat_ids))
    for s in unknown:                      # real SMPD names outside the known 77: appended
        cat_ids[s] = len(cat_ids)
    cat = posts["subcategory"].map(cat_ids).astype(np.int64).to_numpy()
    vocab = tag_vocabulary(posts.loc[is_train, "tags"])
    tags = encode_tags(posts["tags"], vocab)
    y = posts["label"].to_numpy(dtype=np.float32)

    data, pids = {}, {}
    for s in SPLITS:
        m = (posts["split"] == s).to_numpy()
        data[s] = {"img": torch.from_numpy(img[m]), "txt": torch.from_numpy(txt[m]),
                   "meta": torch.from_numpy(meta[m]), "meta_ctx": torch.from_numpy(meta_ctx[m]),
                   "user": torch.from_numpy(user[m]),
                   "cat": torch.from_numpy(cat[m]), "tags": torch.from_numpy(tags[m]),
                   "y": torch.from_numpy(y[m]), "idx": torch.arange(int(m.sum()))}
        pids[s] = posts.loc[m, "Pid"].to_numpy()
    info = {"fingerprint": fp, "pids": pids, "scheme": scheme,
            "dims": {"img": img.shape[1], "txt": txt.shape[1], "meta": meta.shape[1]},
            "n_users": len(train_users) + 1, "n_tags": len(vocab) + 2, "n_cats": len(cat_ids),
            "unknown_subcategories": unknown, "label_mean": float(y[is_train].mean()),
            "meta_norm": norm}
    return data, info
