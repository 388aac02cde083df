"""Train/val/test splits and the loader every later stage uses.

Two schemes over the labelled posts, both stored in ``data/<profile>/splits.parquet``:

* ``random`` - the JRPP protocol: a seeded random 8:1:1 split of the labelled train
  posts; the train part is the retrieval bank.
* ``chrono`` - SMP-Challenge style: posts of the official test files are the test set
  when they are labelled (SMPD-Sim); otherwise (real SMPD, unlabelled test) the latest
  ``test_frac`` of the train posts by postdate. The latest ``val_frac`` of the remaining
  train posts is validation.

Each scheme has a fingerprint = hash(its train/val/test assignment + the data fingerprint
of ``posts.parquet``), so it changes when the split OR any value of the canonical table
(labels included) changes; every later output records it and is refused on mismatch.
:func:`load_posts` re-derives both fingerprints from the files' contents before returning,
so a ``posts.parquet`` or ``splits.parquet`` edited (or swapped) after stage 01 wrote it is
refused with :class:`~smpp_utils.core.io.FingerprintMismatch`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import paths
from ..core.io import FingerprintMismatch, fingerprint_ids, read_parquet, write_parquet
from .smpd import data_fingerprint

SPLITS = ("train", "val", "test")
SCHEMES = ("random", "chrono")


def random_split(pids, val_frac: float, test_frac: float, seed: int) -> pd.Series:
    """Seeded random split of ``pids`` (in sorted-Pid order, so the input order does not
    matter). Returns a Series indexed by Pid with values train/val/test."""
    pids = np.sort(np.asarray(pids, dtype=np.int64))
    if len(np.unique(pids)) != len(pids):
        raise ValueError("random_split: duplicate Pids")
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"random_split: bad fractions val={val_frac} test={test_frac}")
    n = len(pids)
    n_test, n_val = int(round(n * test_frac)), int(round(n * val_frac))
    order = np.random.default_rng(seed).permutation(n)
    lab = np.empty(n, dtype=object)
    lab[order[:n_test]] = "test"
    lab[order[n_test:n_test + n_val]] = "val"
    lab[order[n_test + n_val:]] = "train"
    return pd.Series(lab, index=pd.Index(pids, name="Pid"), name="random")


def chrono_split(posts: pd.DataFrame, val_frac: float, test_frac: float) -> pd.Series:
    """SMP-Challenge style chronological split of the labelled posts (ties by Pid)."""
    lab = posts[posts["label"].notna()]
    test_file = lab["source_split"] == "test"
    out = pd.Series(index=pd.Index(lab["Pid"].to_numpy(), name="Pid"), dtype=object,
                    name="chrono")
    if test_file.any():
        out[lab.loc[test_file, "Pid"].to_numpy()] = "test"
        rest = lab[~test_file]
    else:
        rest = lab
    rest = rest.sort_values(["postdate", "Pid"])
    n = len(rest)
    n_test = 0 if test_file.any() else int(round(n * test_frac))
    n_val = int(round(n * val_frac))
    pids = rest["Pid"].to_numpy()
    out[pids[: n - n_test - n_val]] = "train"
    out[pids[n - n_test - n_val: n - n_test]] = "val"
    out[pids[n - n_test:]] = "test"
    return out


def split_fingerprint(assign: pd.Series, scheme: str, data_fingerprint: str | None = None) -> str:
    """Hash of the ordered ids of train, then val, then test (``assign``: Pid index ->
    train/val/test, others ignored), tagged with ``scheme`` and the ``data_fingerprint`` of
    the table the split was made from (omitted only by callers without one)."""
    ids = []
    values = assign.astype(object).to_numpy()
    for s in SPLITS:
        part = np.sort(assign.index[values == s].to_numpy())
        ids += [f"{s}:{p}" for p in part]
    tags = (scheme,) if data_fingerprint is None else (scheme, f"data:{data_fingerprint}")
    return fingerprint_ids(ids, *tags)


def make_splits(posts: pd.DataFrame, val_frac: float, test_frac: float, seed: int,
                data_fp: str | None = None):
    """Both schemes for the labelled posts: (DataFrame Pid/random/chrono, fingerprints).
    Fingerprints bind the assignment to ``data_fp`` (default: ``smpd.data_fingerprint(posts)``,
    the fingerprint ``posts.parquet`` records)."""
    data_fp = data_fingerprint(posts) if data_fp is None else data_fp
    labelled = posts[posts["label"].notna()]
    train_file = labelled[labelled["source_split"] == "train"]
    rnd = random_split(train_file["Pid"], val_frac, test_frac, seed)
    chrono = chrono_split(posts, val_frac, test_frac)
    df = pd.DataFrame({"Pid": np.sort(labelled["Pid"].to_numpy())})
    df["random"] = df["Pid"].map(rnd).astype("string")
    df["chrono"] = df["Pid"].map(chrono).astype("string")
    fps = {"random": split_fingerprint(rnd, "random", data_fp),
           "chrono": split_fingerprint(chrono, "chrono", data_fp)}
    return df, fps


def write_splits(df: pd.DataFrame, fingerprints: dict, data_fingerprint: str, path) -> None:
    write_parquet(df, path, {"fingerprints": fingerprints, "data_fingerprint": data_fingerprint})


def _assignment(splits: pd.DataFrame, scheme: str) -> pd.Series:
    return pd.Series(splits[scheme].to_numpy(dtype=object),
                     index=pd.Index(splits["Pid"].to_numpy(), name="Pid"))


def check_consistent(posts: pd.DataFrame, pmeta: dict, splits: pd.DataFrame, smeta: dict,
                     posts_path, splits_path) -> str:
    """Refuse a ``posts.parquet`` whose values do not hash to its recorded data fingerprint,
    a ``splits.parquet`` made from other data, one whose assignment does not hash to its
    recorded split fingerprints, or one whose Pids are not the labelled posts. Returns the
    data fingerprint."""
    data_fp = data_fingerprint(posts)
    recorded = pmeta.get("fingerprint")
    if data_fp != recorded:
        raise FingerprintMismatch(
            f"{posts_path}: data fingerprint of its contents {data_fp!r} differs from the "
            f"{recorded!r} recorded by stage data - the table was modified after it was "
            "written; rerun stage data")
    if smeta.get("data_fingerprint") != data_fp:
        raise FingerprintMismatch(
            f"{splits_path}: made from data {smeta.get('data_fingerprint')!r}, but {posts_path} "
            f"is {data_fp!r} (splits of another posts.parquet) - rerun stage data")
    labelled = np.sort(posts.loc[posts["label"].notna(), "Pid"].to_numpy())
    in_splits = np.sort(splits["Pid"].to_numpy())
    if not np.array_equal(labelled, in_splits):
        extra = np.setdiff1d(in_splits, labelled)[:5].tolist()
        absent = np.setdiff1d(labelled, in_splits)[:5].tolist()
        raise FingerprintMismatch(
            f"{splits_path}: its {len(in_splits)} Pids are not the {len(labelled)} labelled posts "
            f"of {posts_path} (not labelled there: {extra}; missing: {absent}) - rerun stage data")
    for scheme in SCHEMES:
        found = split_fingerprint(_assignment(splits, scheme), scheme, data_fp)
        recorded = (smeta.get("fingerprints") or {}).get(scheme)
        if found != recorded:
            raise FingerprintMismatch(
                f"{splits_path}: split fingerprint of its '{scheme}' assignment {found!r} "
                f"differs from the recorded {recorded!r} - the file was modified after it was "
                "written; rerun stage data")
    return data_fp


def load_posts(profile: str, scheme: str = "random", labelled_only: bool = True):
    """The canonical posts table with a ``split`` column for ``scheme``.

    Returns ``(posts, fingerprint)`` where fingerprint is the scheme's split fingerprint.
    With ``labelled_only`` (default) only posts assigned to train/val/test are returned;
    otherwise all posts, ``split`` being <NA> for the rest (e.g. unlabelled test files).
    Rows are in Pid order. Raises :class:`~smpp_utils.core.io.FingerprintMismatch` when the
    two files are not what stage data wrote (see :func:`check_consistent`).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown split scheme {scheme!r}; expected one of {SCHEMES}")
    d = paths.data_dir(profile)
    posts, pmeta = read_parquet(d / "posts.parquet")
    splits, smeta = read_parquet(d / "splits.parquet")
    check_consistent(posts, pmeta, splits, smeta, d / "posts.parquet", d / "splits.parquet")
    posts = posts.merge(splits[["Pid", scheme]].rename(columns={scheme: "split"}),
                        on="Pid", how="left", validate="one_to_one")
    if labelled_only:
        posts = posts[posts["split"].notna()]
    posts = posts.sort_values("Pid").reset_index(drop=True)
    return posts, smeta["fingerprints"][scheme]
