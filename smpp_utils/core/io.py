"""Atomic file writing, fingerprints, and the two on-disk formats every stage shares:
parquet tables and ``.npz`` array bundles keyed by Pid.

Two kinds of fingerprint guard every file:

* ``meta["fingerprint"]`` - what the file was made FROM: the data fingerprint for
  ``posts.parquet`` (:func:`fingerprint_frame` of the canonical table), the split
  fingerprint (assignment + data fingerprint) for everything after stage 01. Readers given
  ``expect_fingerprint`` refuse a file made from other data/splits.
* ``meta["content_fingerprint"]`` - what the file HOLDS, computed by :func:`write_parquet` /
  :func:`save_arrays` on every write and checked by :func:`read_parquet` /
  :func:`load_arrays` on every read, so a file edited after it was written (same Pids,
  other values) is refused instead of read.

:func:`fingerprint_frame` hashes its own serialisation of the values (little-endian
int64/float64 bytes with one canonical NaN, int64 nanoseconds UTC for datetimes, UTF-8
bytes with lengths for strings, a null mask per column), not pandas' or Arrow's internal
buffers, so it is the same across pandas/pyarrow versions, platforms and a parquet
round trip (storage dtype variants such as ``string``/``str``/``object`` or
``Int64``/``int64`` hash alike when their values are equal).
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


def _part(h, data: bytes) -> None:
    """Length-prefixed update: the concatenation of parts is unambiguous."""
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _json_cell(v) -> str:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)


def _json_parts(s: pd.Series, mask: bytes, na: np.ndarray) -> tuple[str, list[bytes]]:
    """Anything else (lists, dicts, mixed objects): canonical JSON text of each cell."""
    return "json", [mask, *_string_parts([_json_cell(v) for v in s.to_numpy(dtype=object)], na)]


def _column_parts(s: pd.Series) -> tuple[str, list[bytes]]:
    """(logical kind, byte parts) of one column; see the module docstring."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    dtype = s.dtype
    na = s.isna().to_numpy(dtype=bool)
    mask = np.packbits(na).tobytes()
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind in ("string", "empty"):
            dtype = pd.StringDtype()
        elif kind == "boolean":
            dtype = np.dtype(bool)
        elif kind == "integer":
            dtype = np.dtype(np.int64)
        elif kind in ("floating", "mixed-integer-float", "integer-na"):
            dtype = np.dtype(np.float64)
        else:
            return _json_parts(s, mask, na)
    if pd.api.types.is_bool_dtype(dtype):
        vals = s.astype("boolean").fillna(False).to_numpy(dtype=np.uint8)
        return "bool", [mask, vals.tobytes()]
    if pd.api.types.is_datetime64_any_dtype(dtype):
        tz = getattr(s.dt, "tz", None)
        naive = s.dt.tz_convert("UTC").dt.tz_localize(None) if tz is not None else s
        ns = naive.astype("datetime64[ns]").to_numpy().view("<i8").copy()
        ns[na] = 0
        return ("datetime_utc" if tz is not None else "datetime"), [mask, ns.tobytes()]
    if pd.api.types.is_timedelta64_dtype(dtype):
        ns = s.astype("timedelta64[ns]").to_numpy().view("<i8").copy()
        ns[na] = 0
        return "timedelta", [mask, ns.tobytes()]
    if pd.api.types.is_unsigned_integer_dtype(dtype):
        vals = s.to_numpy(dtype=np.uint64, na_value=0).astype("<u8")
        return "uint", [mask, vals.tobytes()]
    if pd.api.types.is_integer_dtype(dtype):
        vals = s.to_numpy(dtype=np.int64, na_value=0).astype("<i8")
        return "int", [mask, vals.tobytes()]
    if pd.api.types.is_float_dtype(dtype):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan).astype("<f8")
        vals[np.isnan(vals)] = np.nan           # one NaN bit pattern
        vals[na] = 0.0
        return "float", [mask, vals.tobytes()]
    if pd.api.types.is_string_dtype(dtype):
        return "str", [mask, *_string_parts(s.to_numpy(dtype=object, na_value=""), na)]
    return _json_parts(s, mask, na)


def _string_parts(values, na: np.ndarray) -> list[bytes]:
    """[UTF-8 byte length of each value as <i8 (0 for nulls), all the UTF-8 bytes]."""
    values = np.where(na, "", np.asarray(values, dtype=object))
    try:  # fast path, same bytes: Arrow builds exactly these offsets and data
        arr = pa.array(values, type=pa.large_string())
        off = np.frombuffer(arr.buffers()[1], dtype="<i8", count=len(arr) + 1, offset=8 * arr.offset)
        data = arr.buffers()[2]
        blob = b"" if data is None else data.to_pybytes()[off[0]:off[-1]]
        return [np.diff(off).astype("<i8").tobytes(), blob]
    except (pa.ArrowException, UnicodeEncodeError, TypeError):  # non-str cells, lone surrogates
        enc = [str(v).encode("utf-8", "surrogatepass") for v in values]
        lengths = np.fromiter((len(b) for b in enc), dtype="<i8", count=len(enc))
        return [lengths.tobytes(), b"".join(enc)]


def fingerprint_frame(df: pd.DataFrame, columns: Iterable[str] | None = None) -> str:
    """sha256 (first 16 hex digits) of the VALUES of ``columns`` (default: all, in frame
    order) in row order: column names, logical kinds, null masks and values. The index is
    not part of it (parquet files are written without one)."""
    cols = list(df.columns) if columns is None else list(columns)
    h = hashlib.sha256(b"smpp-frame-v1\x00")
    _part(h, str(len(df)).encode())
    for c in cols:
        kind, parts = _column_parts(df[c])
        _part(h, str(c).encode("utf-8", "surrogatepass"))
        _part(h, kind.encode())
        for part in parts:
            _part(h, part)
    return h.hexdigest()[:16]


def fingerprint_arrays(pids, arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 (first 16 hex digits) of Pids and named arrays (name, dtype, shape, bytes)."""
    h = hashlib.sha256(b"smpp-arrays-v1\x00")
    items = [("pids", np.asarray(pids, dtype=np.int64))] + sorted(
        (str(k), np.asarray(v)) for k, v in arrays.items())
    for name, arr in items:
        arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
        _part(h, name.encode())
        _part(h, arr.dtype.str.encode())
        _part(h, repr(arr.shape).encode())
        _part(h, arr.tobytes())
    return h.hexdigest()[:16]


def _check_content(found: str | None, recorded: str | None, path) -> None:
    """A file whose values no longer hash to what its writer recorded was edited since."""
    if recorded is not None and found != recorded:
        raise FingerprintMismatch(
            f"{path}: content fingerprint {found!r} differs from {recorded!r} recorded when it "
            "was written - the file was modified afterwards; rerun the stage that writes it")


def check_fingerprint(found: str | None, expected: str | None, what: str) -> None:
    if expected is not None and found != expected:
        raise FingerprintMismatch(
            f"{what}: fingerprint {found!r} does not match the expected {expected!r}; "
            "it was built from another dataset or split - rerun the stage that writes it")


# ----------------------------------------------------------------------------- parquet
def write_parquet(df: pd.DataFrame, path, meta: Mapping | None = None) -> Path:
    """Write ``df`` atomically with ``meta`` (JSON) in the parquet schema metadata, plus
    ``content_fingerprint`` (:func:`fingerprint_frame` of ``df``, always recomputed)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    meta = {**dict(meta or {}), "content_fingerprint": fingerprint_frame(df)}
    md[META_KEY] = json.dumps(meta, sort_keys=True, default=_json_default).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet_meta(path) -> dict:
    md = pq.read_schema(path).metadata or {}
    return json.loads(md.get(META_KEY, b"{}"))


def read_parquet(path, expect_fingerprint: str | None = None) -> tuple[pd.DataFrame, dict]:
    """``(df, meta)``; refuses a file made from another dataset/split (``expect_fingerprint``)
    and a file whose values changed since :func:`write_parquet` wrote it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing - run the pipeline stage that writes it")
    meta = read_parquet_meta(path)
    check_fingerprint(meta.get("fingerprint"), expect_fingerprint, str(path))
    df = pd.read_parquet(path)
    if "content_fingerprint" in meta:
        _check_content(fingerprint_frame(df), meta["content_fingerprint"], path)
    return df, meta


# ----------------------------------------------------------------------------- npz
def save_arrays(path, pids, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None) -> Path:
    """Save row-aligned arrays keyed by ``pids`` (one row per post) plus JSON metadata.

    Refuses NaN/inf and arrays whose first dimension differs from ``len(pids)``. The meta
    gets ``content_fingerprint`` (:func:`fingerprint_arrays`), checked by :func:`load_arrays`.
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
    meta = {**dict(meta or {}), "content_fingerprint": fingerprint_arrays(pids, {k: v for k, v in payload.items() if k != "pids"})}
    payload["meta_json"] = np.array(json.dumps(meta, sort_keys=True, default=_json_default))
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
    if "content_fingerprint" in meta:
        _check_content(fingerprint_arrays(file_pids, arrays), meta["content_fingerprint"], path)
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
