"""Convert a published SKAPP/JRPP feature package into the project's formats.

The packages ship one table per split (file names containing train / val|valid / test)
with columns ``image_id``, ``user_id``, ``label`` and two 768-d vectors ``cls_vec`` (image)
and ``merged_text_vec`` (text), as pandas pickles, parquet or csv (vectors as
"[0.1, 0.2, ...]" or whitespace-separated strings). Output in OUT_DIR:

* ``emb/package.npz`` - arrays ``image`` [N,768] and ``text`` [N,768] keyed by Pid
  (:func:`smpp_utils.core.io.save_arrays`), meta ``fingerprint`` = the package split's fingerprint
* ``posts.parquet`` - Pid, image_id, Uid, label, split (posts-like, same fingerprint)

Pickles can execute code when loaded, so they are refused unless ``--trust-pickle``.

    python -m smpp_utils.jrpp.convert IN_DIR OUT_DIR [--trust-pickle]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.splits import split_fingerprint
from ..core.io import save_arrays, write_parquet

VECTORS = {"cls_vec": "image", "merged_text_vec": "text"}
REQUIRED = ("image_id", "user_id", "label", *VECTORS)
PICKLE_EXT = {".pkl", ".pickle"}
TABLE_EXT = {".parquet", ".csv", *PICKLE_EXT}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def split_of(path: Path) -> str | None:
    for tok in re.split(r"[^a-z]+", path.stem.lower()):
        if tok in SPLIT_NAMES:
            return SPLIT_NAMES[tok]
    return None


def read_table(path: Path, trust_pickle: bool = False) -> pd.DataFrame:
    ext = path.suffix.lower()
    if ext in PICKLE_EXT:
        if not trust_pickle:
            raise PermissionError(f"{path}: refusing to load a pickle (it can run arbitrary code); "
                                  "pass --trust-pickle if you trust its source")
        df = pd.read_pickle(path)
    elif ext == ".parquet":
        df = pd.read_parquet(path)
    elif ext == ".csv":
        df = pd.read_csv(path)
    else:
        raise ValueError(f"{path}: unsupported table format {ext!r}")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{path}: expected a table, found {type(df).__name__}")
    return df


def to_matrix(col: pd.Series, path: Path, name: str) -> np.ndarray:
    rows = []
    for i, v in enumerate(col):
        if isinstance(v, str):
            try:
                v = np.array(v.strip("[] \n").replace(",", " ").split(), dtype=np.float32)
            except ValueError as e:
                raise ValueError(f"{path}: column '{name}' row {i} is not a vector of numbers: {e}") from None
        arr = np.asarray(v, dtype=np.float32).ravel()
        rows.append(arr)
    dims = {len(r) for r in rows}
    if len(dims) != 1:
        raise ValueError(f"{path}: column '{name}' has vectors of different lengths {sorted(dims)}")
    mat = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    bad = ~np.isfinite(mat).all(axis=1)
    if bad.any():
        raise ValueError(f"{path}: column '{name}' has NaN/inf in row {int(np.argmax(bad))}")
    return mat


def convert(in_dir, out_dir, trust_pickle: bool = False) -> dict:
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    files = sorted(p for p in in_dir.iterdir() if p.suffix.lower() in TABLE_EXT and split_of(p))
    if not files:
        raise FileNotFoundError(f"{in_dir}: no train/val/test tables (.pkl/.parquet/.csv) found")
    parts = []
    for p in files:
        df = read_table(p, trust_pickle)
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: missing columns {missing}; has {list(df.columns)[:10]}")
        part = pd.DataFrame({"image_id": df["image_id"].astype(str).to_numpy(),
                             "Uid": df["user_id"].astype(str).to_numpy(),
                             "label": pd.to_numeric(df["label"], errors="raise").astype(float).to_numpy(),
                             "split": split_of(p)})
        for col, name in VECTORS.items():
            part[name] = list(to_matrix(df[col], p, col))
        parts.append(part)
    posts = pd.concat(parts, ignore_index=True)
    dup = posts["image_id"].duplicated()
    if dup.any():
        raise ValueError(f"{in_dir}: image_id {posts.loc[dup, 'image_id'].iloc[0]!r} appears twice")
    posts = posts.sort_values(["split", "image_id"], kind="stable").reset_index(drop=True)
    posts.insert(0, "Pid", np.arange(1, len(posts) + 1, dtype=np.int64))
    assign = pd.Series(posts["split"].to_numpy(), index=pd.Index(posts["Pid"], name="Pid"))
    fp = split_fingerprint(assign, "package")
    meta = {"fingerprint": fp, "source": str(in_dir), "files": [f.name for f in files]}
    arrays = {name: np.stack(posts[name].to_list()) for name in VECTORS.values()}
    save_arrays(out_dir / "emb" / "package.npz", posts["Pid"], arrays, meta)
    write_parquet(posts.drop(columns=list(VECTORS.values())), out_dir / "posts.parquet", meta)
    counts = posts["split"].value_counts().to_dict()
    return {"fingerprint": fp, "n": len(posts), "splits": counts,
            "dims": {k: int(v.shape[1]) for k, v in arrays.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("in_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="allow loading pickled tables (they can execute code)")
    a = ap.parse_args(argv)
    print(convert(a.in_dir, a.out_dir, a.trust_pickle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
