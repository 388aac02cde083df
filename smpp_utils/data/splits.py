"""Train/val/test splits and the loader every later stage uses.

Two schemes over the labelled posts, both stored in ``data/<profile>/splits.parquet``:

* ``random`` - the JRPP protocol: a seeded random 8:1:1 split of the labelled train
  posts; the train part is the retrieval bank.
* ``chrono`` - SMP-Challenge style: posts of the official test files are the test set
  when they are labelled (SMPD-Sim); otherwise (real SMPD, unlabelled test) the latest
  ``test_frac`` of the train posts by postdate. The latest ``val_frac`` of the remaining
  train posts is validation.

Each scheme has a fingerprint (hash of its ordered train/val/test ids) that every later
output records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import paths
from ..core.io import fingerprint_ids, read_parquet, write_parquet

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


def split_fingerprint(assign: pd.Series, scheme: str) -> str:
    """Hash of the ordered ids of train, then val, then test."""
    ids = []
    for s in SPLITS:
        part = np.sort(assign.index[assign.to_numpy() == s].to_numpy())
        ids += [f"{s}:{p}" for p in part]
    return fingerprint_ids(ids, scheme)


def make_splits(posts: pd.DataFrame, val_frac: float, test_frac: float, seed: int):
    """Both schemes for the labelled posts: (DataFrame Pid/random/chrono, fingerprints)."""
    labelled = posts[posts["label"].notna()]
    train_file = labelled[labelled["source_split"] == "train"]
    rnd = random_split(train_file["Pid"], val_frac, test_frac, seed)
    chrono = chrono_split(posts, val_frac, test_frac)
    df = pd.DataFrame({"Pid": np.sort(labelled["Pid"].to_numpy())})
    df["random"] = df["Pid"].map(rnd).astype("string")
    df["chrono"] = df["Pid"].map(chrono).astype("string")
    fps = {"random": split_fingerprint(rnd, "random"),
           "chrono": split_fingerprint(chrono, "chrono")}
    return df, fps


def write_splits(df: pd.DataFrame, fingerprints: dict, data_fingerprint: str, path) -> None:
    write_parquet(df, path, {"fingerprints": fingerprints, "data_fingerprint": data_fingerprint})


def load_posts(profile: str, scheme: str = "random", labelled_only: bool = True):
    """The canonical posts table with a ``split`` column for ``scheme``.

    Returns ``(posts, fingerprint)`` where fingerprint is the scheme's split fingerprint.
    With ``labelled_only`` (default) only posts assigned to train/val/test are returned;
    otherwise all posts, ``split`` being <NA> for the rest (e.g. unlabelled test files).
    Rows are in Pid order.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown split scheme {scheme!r}; expected one of {SCHEMES}")
    d = paths.data_dir(profile)
    posts, pmeta = read_parquet(d / "posts.parquet")
    splits, smeta = read_parquet(d / "splits.parquet")
    if smeta.get("data_fingerprint") != pmeta.get("fingerprint"):
        raise ValueError(f"{d}/splits.parquet was made from another posts.parquet "
                         "(data fingerprints differ) - rerun the data stage")
    posts = posts.merge(splits[["Pid", scheme]].rename(columns={scheme: "split"}),
                        on="Pid", how="left", validate="one_to_one")
    if labelled_only:
        posts = posts[posts["split"].notna()]
    posts = posts.sort_values("Pid").reset_index(drop=True)
    return posts, smeta["fingerprints"][scheme]
