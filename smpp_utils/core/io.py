"""Atomic file writing, fingerprints, and the two on-disk formats every stage shares:
parquet tables and ``.npz`` array bundles keyed by Pid.

Every derived file records the fingerprint of the split it came from; readers that are
given an expected fingerprint refuse to mix outputs of different data/splits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"smpp"


class FingerprintMismatch(ValueError):
    """Raised when a file was produced from another dataset or split."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target folder; rename it onto ``path`` only if the
    block finishes, so a crash never leaves a partial file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.is_file():                      # mkstemp creates 0600; use the usual umask mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path, obj) -> Path:
    """JSON with sorted keys and a trailing newline (stable diffs for DVC metrics)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def fingerprint_ids(ids: Iterable, *extra: str) -> str:
    """sha256 (first 16 hex digits) of the ordered ids plus optional tags."""
    h = hashlib.sha256()
    for tag in extra:
        h.update(str(tag).encode())
        h.update(b"\x00")
    for i in ids:
        h.update(str(i).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def check_fingerprint(found: str | None, expected: str | None, what: str) -> None:
    if expected is not None and found != expected:
        raise FingerprintMismatch(
            f"{what}: fingerprint {found!r} does not match the expected {expected!r}; "
            "it was built from another dataset or split - rerun the stage that writes it")


# ----------------------------------------------------------------------------- parquet
def write_parquet(df: pd.DataFrame, path, meta: Mapping | None = None) -> Path:
    """Write ``df`` atomically with ``meta`` (JSON) in the parquet schema metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[META_KEY] = json.dumps(dict(meta or {}), sort_keys=True, default=_json_default).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet_meta(path) -> dict:
    md = pq.read_schema(path).metadata or {}
    return json.loads(md.get(META_KEY, b"{}"))


def read_parquet(path, expect_fingerprint: str | None = None) -> tuple[pd.DataFrame, dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing - run the pipeline stage that writes it")
    meta = read_parquet_meta(path)
    check_fingerprint(meta.get("fingerprint"), expect_fingerprint, str(path))
    return pd.read_parquet(path), meta


# ----------------------------------------------------------------------------- npz
def save_arrays(path, pids, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None) -> Path:
    """Save row-aligned arrays keyed by ``pids`` (one row per post) plus JSON metadata.

    Refuses NaN/inf and arrays whose first dimension differs from ``len(pids)``.
    """
    pids = np.asarray(pids, dtype=np.int64)
    if len(np.unique(pids)) != len(pids):
        raise ValueError(f"{path}: duplicate Pids in the arrays to save")
    payload = {"pids": pids}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.shape[0] != len(pids):
            raise ValueError(f"{path}: array '{name}' has {arr.shape[0]} rows for {len(pids)} Pids")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(np.where(~np.isfinite(arr.reshape(len(pids), -1)).all(1))[0][0])
            raise ValueError(f"{path}: array '{name}' has NaN/inf at Pid {pids[bad]}")
        payload[name] = arr
    payload["meta_json"] = np.array(json.dumps(dict(meta or {}), sort_keys=True, default=_json_default))
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
    return Path(path)


def load_arrays(path, expect_fingerprint: str | None = None,
                pids: Iterable | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """Load an ``.npz`` written by :func:`save_arrays`.

    With ``pids`` given, rows are reordered to that order; a Pid absent from the file is an
    error naming it. Non-finite values are an error naming the array and Pid.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing - run the pipeline stage that writes it")
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
        file_pids = z["pids"]
        arrays = {k: z[k] for k in z.files if k not in ("pids", "meta_json")}
    check_fingerprint(meta.get("fingerprint"), expect_fingerprint, str(path))
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(np.where(~np.isfinite(arr.reshape(len(file_pids), -1)).all(1))[0][0])
            raise ValueError(f"{path}: array '{name}' has NaN/inf at Pid {file_pids[bad]}")
    if pids is not None:
        pids = np.asarray(list(pids), dtype=np.int64)
        index = pd.Index(file_pids)
        pos = index.get_indexer(pids)
        if (pos < 0).any():
            missing = pids[pos < 0]
            raise KeyError(f"{path}: {len(missing)} Pids not in the file, e.g. {missing[:5].tolist()}")
        arrays = {k: v[pos] for k, v in arrays.items()}
        file_pids = pids
    return file_pids, arrays, meta
