"""Hierarchical class prototypes (Paper A, Sec. 3.1).

For every subcategory, up to ``shots`` (paper: 256) training posts are chosen to be diverse
in time, semantics and users (:func:`sample_diverse`); the visual prototype is the mean of
their L2-normalised image embeddings and the textual prototype the mean of their text
embeddings, both re-normalised; a category's prototypes are the re-normalised mean of its
subcategories' prototypes (:func:`build_prototypes`).

Handling of edge cases (counted in the saved metadata):

* a class with at most ``shots`` training posts uses all of them;
* a class with no training post gets no prototype: it is left out of the class list and
  named in ``missing``; a category whose subcategories are all missing is left out too;
* the per-user cap is relaxed (cap+1, cap+2, ...) only when a class cannot otherwise reach
  ``min(shots, n_posts)``; the class is then flagged ``cap_relaxed``;
* subcategories that are not in ``schema.all_subcategories()`` (none expected) follow the
  schema classes, sorted by name;
* posts with empty text are left out of the textual mean when the class has other posts
  (an empty string embeds to the same vector whatever the class).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import schema
from ..core.io import atomic_path, check_fingerprint

FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- class order
def class_order(subcategories) -> list[str]:
    """Subcategories present in ``subcategories``, in ``schema.all_subcategories()`` order
    (unknown names after them, sorted)."""
    present = set(pd.Series(subcategories).dropna().astype(str))
    known = [s for _, s in schema.all_subcategories()]
    return [s for s in known if s in present] + sorted(present - set(known))


def category_of(subcategories, posts: pd.DataFrame | None = None) -> list[str]:
    """Category of each subcategory (schema first, else the most frequent one in ``posts``)."""
    table = {s: c for c, s in schema.all_subcategories()}
    if posts is not None:
        extra = posts.groupby("subcategory")["category"].agg(lambda v: v.mode().iloc[0])
        table = {**extra.to_dict(), **table}
    return [str(table.get(s, "Unknown")) for s in subcategories]


# ----------------------------------------------------------------------------- sampling
def _check_train(posts_train: pd.DataFrame) -> None:
    if "split" not in posts_train.columns:
        raise KeyError("sample_diverse: posts_train needs the 'split' column of load_posts")
    bad = posts_train["split"].astype("string").fillna("<NA>") != "train"
    if bad.any():
        pids = posts_train.loc[bad, "Pid"].head(5).tolist()
        raise ValueError(f"sample_diverse: {int(bad.sum())} rows are not in the train split "
                         f"(e.g. Pids {pids}); prototypes use training posts only")


def _time_bins(postdate: pd.Series, n_bins: int) -> np.ndarray:
    """Quantile bins of the post time within the class (ties broken by row order)."""
    n = len(postdate)
    k = max(1, min(n_bins, n))
    ranks = postdate.rank(method="first", na_option="bottom").to_numpy() - 1
    return np.minimum((ranks * k / n).astype(int), k - 1)


def _clusters(emb: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    k = max(1, min(n_clusters, len(emb)))
    if k == 1:
        return np.zeros(len(emb), dtype=int)
    km = KMeans(n_clusters=k, random_state=seed, n_init=3)
    return km.fit_predict(np.asarray(emb, dtype=np.float64))


def _round_robin(cells: list[np.ndarray], users: np.ndarray, budget: int, cap: int):
    """Take one post per (time bin x cluster) cell in turn, skipping posts whose user already
    has ``cap`` posts; raise the cap step by step only if the budget is otherwise unmet.
    Returns (chosen local indices, final cap)."""
    chosen, per_user = [], {}
    queues = [list(c) for c in cells]
    while True:
        progress = True
        while len(chosen) < budget and progress:
            progress = False
            for q in queues:
                if len(chosen) >= budget:
                    break
                for j, i in enumerate(q):
                    if per_user.get(users[i], 0) < cap:
                        chosen.append(i)
                        per_user[users[i]] = per_user.get(users[i], 0) + 1
                        del q[j]
                        progress = True
                        break
        if len(chosen) >= budget or not any(queues):
            return np.array(chosen, dtype=int), cap
        cap += 1   # relaxation: the class cannot reach its budget under the current cap


def sample_diverse(posts_train: pd.DataFrame, emb: np.ndarray, shots: int, time_bins: int,
                   topic_clusters: int, user_cap: int, seed: int) -> dict[str, np.ndarray]:
    """Diverse ``shots``-post sample per subcategory (Paper A Sec. 3.1).

    ``emb`` are image embeddings row-aligned with ``posts_train`` (train split only). Each
    class's posts are put in cells = postdate-quantile bin x k-means cluster of ``emb``
    (both computed within the class, seeded); cells are visited round-robin in a seeded
    random order, taking the posts of a cell in a seeded random order, with at most ``user_cap`` posts per Uid (relaxed only if needed,
    see the module docstring). Returns {subcategory: sorted row positions into posts_train}
    in :func:`class_order`; classes with <= ``shots`` posts get all their rows.
    """
    _check_train(posts_train)
    emb = np.asarray(emb)
    if len(emb) != len(posts_train):
        raise ValueError(f"sample_diverse: {len(emb)} embeddings for {len(posts_train)} posts")
    if shots < 1 or user_cap < 1:
        raise ValueError(f"sample_diverse: shots={shots} and user_cap={user_cap} must be >= 1")
    subc = posts_train["subcategory"].astype(str).to_numpy()
    uids = posts_train["Uid"].astype(str).to_numpy()
    dates = pd.to_datetime(posts_train["postdate"], utc=True).reset_index(drop=True)
    out = {}
    for ci, name in enumerate(class_order(subc)):
        rows = np.flatnonzero(subc == name)
        if len(rows) <= shots:
            out[name] = rows
            continue
        rng = np.random.default_rng([int(seed), ci])
        tb = _time_bins(dates.iloc[rows].reset_index(drop=True), time_bins)
        cl = _clusters(emb[rows], topic_clusters, seed)
        cells = []
        for b in range(tb.max() + 1):
            for c in range(cl.max() + 1):
                members = np.flatnonzero((tb == b) & (cl == c))
                if len(members):
                    cells.append(rng.permutation(members))
        cells = [cells[k] for k in rng.permutation(len(cells))]   # no cell is favoured
        chosen, _ = _round_robin(cells, uids[rows], shots, user_cap)
        out[name] = np.sort(rows[chosen])
    return out


def selection_counts(posts_train: pd.DataFrame, selection: dict[str, np.ndarray],
                     user_cap: int, time_bins: int) -> pd.DataFrame:
    """One row per class: posts available, chosen, distinct users, most posts of one user,
    whether all posts were used (class at most ``shots``), whether the sampler had to relax
    the user cap (only possible when not all were used), and how many of the class's
    ``time_bins`` postdate bins the chosen posts cover."""
    subc = posts_train["subcategory"].astype(str).to_numpy()
    dates = pd.to_datetime(posts_train["postdate"], utc=True).reset_index(drop=True)
    rows = []
    for name, pos in selection.items():
        members = np.flatnonzero(subc == name)
        bins = _time_bins(dates.iloc[members].reset_index(drop=True), time_bins)
        per_user = posts_train["Uid"].iloc[pos].astype(str).value_counts()
        most = int(per_user.max()) if len(per_user) else 0
        used_all = len(pos) == len(members)
        rows.append({"subcategory": name, "n_train": len(members), "n_selected": len(pos),
                     "n_users": int(per_user.size), "max_per_user": most, "used_all": used_all,
                     "cap_relaxed": bool(not used_all and most > user_cap),
                     "time_bins_covered": int(np.unique(bins[np.isin(members, pos)]).size)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- prototypes
@dataclass
class Prototypes:
    """Unit-norm prototypes, rows in ``subcategories`` / ``category_names`` order."""
    subcategories: list[str]
    categories: list[str]               # category of each subcategory
    visual: np.ndarray                  # [C, d_image]
    textual: np.ndarray                 # [C, d_text]
    counts: np.ndarray                  # posts used per subcategory
    category_names: list[str]
    category_visual: np.ndarray         # [K, d_image]
    category_textual: np.ndarray        # [K, d_text]
    missing: list[str] = field(default_factory=list)  # classes without training posts
    meta: dict = field(default_factory=dict)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


def build_prototypes(posts_train: pd.DataFrame, selection: dict[str, np.ndarray],
                     image_emb: np.ndarray, text_emb: np.ndarray,
                     text_valid: np.ndarray | None = None,
                     expected_classes=None) -> Prototypes:
    """Visual/textual prototypes per subcategory and per category.

    ``image_emb``/``text_emb`` are row-aligned with ``posts_train``; ``text_valid`` marks
    posts with non-empty text (others are left out of the textual mean unless the class
    has no other). ``expected_classes`` (default: all schema subcategories) names the
    classes that should exist; those absent from ``selection`` are listed in ``missing``.
    """
    _check_train(posts_train)
    image_emb, text_emb = np.asarray(image_emb), np.asarray(text_emb)
    for name, arr in (("image_emb", image_emb), ("text_emb", text_emb)):
        if len(arr) != len(posts_train):
            raise ValueError(f"build_prototypes: {name} has {len(arr)} rows for "
                             f"{len(posts_train)} posts")
    valid = np.ones(len(posts_train), bool) if text_valid is None else np.asarray(text_valid, bool)
    names = [s for s in class_order(list(selection)) if len(selection[s])]
    vis, txt, counts = [], [], []
    for s in names:
        pos = np.asarray(selection[s], dtype=int)
        vis.append(_unit(_unit(image_emb[pos]).mean(0)))
        tpos = pos[valid[pos]] if valid[pos].any() else pos
        txt.append(_unit(text_emb[tpos].mean(0)))
        counts.append(len(pos))
    cats = category_of(names, posts_train)
    vis, txt = np.stack(vis), np.stack(txt)
    cat_names = [c for c in dict.fromkeys(c for c, _ in schema.all_subcategories()) if c in cats]
    cat_names += sorted(set(cats) - set(cat_names))
    cats_arr = np.array(cats)
    cat_vis = np.stack([_unit(vis[cats_arr == c].mean(0)) for c in cat_names])
    cat_txt = np.stack([_unit(txt[cats_arr == c].mean(0)) for c in cat_names])
    expected = [s for _, s in schema.all_subcategories()] if expected_classes is None \
        else list(expected_classes)
    missing = [s for s in expected if s not in set(names)]
    return Prototypes(names, cats, vis, txt, np.array(counts, dtype=np.int64), cat_names,
                      cat_vis, cat_txt, missing)


def save_prototypes(path, protos: Prototypes, meta: dict | None = None) -> Path:
    """Write ``protos`` as one ``.npz`` (string arrays + float32 arrays + JSON meta);
    ``meta`` should carry the split ``fingerprint``."""
    meta = {**protos.meta, **dict(meta or {}), "format_version": FORMAT_VERSION,
            "missing": list(protos.missing), "n_classes": len(protos.subcategories),
            "n_missing": len(protos.missing)}
    payload = {"subcategories": np.array(protos.subcategories, dtype=str),
               "categories": np.array(protos.categories, dtype=str),
               "visual": protos.visual.astype(np.float32),
               "textual": protos.textual.astype(np.float32),
               "counts": protos.counts.astype(np.int64),
               "category_names": np.array(protos.category_names, dtype=str),
               "category_visual": protos.category_visual.astype(np.float32),
               "category_textual": protos.category_textual.astype(np.float32),
               "meta_json": np.array(json.dumps(meta, sort_keys=True, default=str))}
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
    return Path(path)


def load_prototypes(path, expect_fingerprint: str | None = None) -> Prototypes:
    """Read a file written by :func:`save_prototypes` (checking the split fingerprint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing - run the prototypes stage (02)")
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
        check_fingerprint(meta.get("fingerprint"), expect_fingerprint, str(path))
        return Prototypes(z["subcategories"].tolist(), z["categories"].tolist(), z["visual"],
                          z["textual"], z["counts"], z["category_names"].tolist(),
                          z["category_visual"], z["category_textual"],
                          list(meta.get("missing", [])), meta)


def nearest_prototype_accuracy(emb: np.ndarray, labels, protos: Prototypes) -> dict[str, float]:
    """Top-1/top-5 accuracy of classifying unit-norm ``emb`` by cosine to the visual
    prototypes (a sanity check that the prototypes carry class information). Posts whose
    class has no prototype count as errors."""
    scores = np.asarray(emb, dtype=np.float32) @ protos.visual.T
    k = min(5, scores.shape[1])
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    index = {c: i for i, c in enumerate(protos.subcategories)}
    y = np.array([index.get(str(l), -1) for l in labels])
    return {"top1": float(np.mean(topk[:, 0] == y)),
            "top5": float(np.mean((topk == y[:, None]).any(1)))}


# ----------------------------------------------------------------------------- figure
def _tsne_perplexity(n: int) -> float:
    """Perplexity ~ n/3 capped at 30 (25 for 77 classes), always below n."""
    return float(max(1.0, min(30.0, (n - 1) / 3)))


def prototype_tsne(visual: np.ndarray, class_names, categories, seed: int = 0) -> pd.DataFrame:
    """2-D t-SNE (cosine) of the visual prototypes: one row per subcategory with ``x``, ``y``,
    ``category``, ``subcategory`` (the numbers behind :func:`plot_prototype_tsne`)."""
    from sklearn.manifold import TSNE

    visual = np.asarray(visual, dtype=np.float64)
    n = len(visual)
    if n < 3:
        raise ValueError(f"prototype_tsne: need at least 3 prototypes, got {n}")
    xy = TSNE(n_components=2, perplexity=_tsne_perplexity(n), metric="cosine", init="pca",
              random_state=seed).fit_transform(visual)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "category": list(categories),
                         "subcategory": list(class_names)})


def plot_prototype_tsne(df: pd.DataFrame, annotate: bool = True):
    """Scatter of :func:`prototype_tsne`'s frame, coloured by category; returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = len(df)
    fig, ax = plt.subplots(figsize=(9, 7))
    n_cat = df["category"].nunique()
    sns.scatterplot(data=df, x="x", y="y", hue="category", style="category", s=60, ax=ax,
                    palette=sns.color_palette("tab20", 20)[::2][:n_cat]
                    + sns.color_palette("tab20", 20)[1::2][:max(0, n_cat - 10)])
    if annotate:
        for r in df.itertuples():
            ax.annotate(r.subcategory, (r.x, r.y), fontsize=5, alpha=0.8,
                        xytext=(2, 2), textcoords="offset points")
    ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2",
           title=f"Visual prototypes of {n} subcategories (t-SNE, perplexity {_tsne_perplexity(n):.0f})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, title="category")
    return fig
