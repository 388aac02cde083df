"""core.io: atomic writes, fingerprints of ids / tables / arrays, parquet and npz with meta,
and the refusal of files that were edited after they were written."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smpp_utils.core import io


def _frame():
    return pd.DataFrame({
        "Pid": [3, 1], "name": ["a", "é😀"], "x": [1.5, np.nan],
        "n": pd.array([1, None], dtype="Int64"),
        "when": pd.to_datetime([0, None], unit="s", utc=True), "flag": [True, False]})


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- npz
def test_arrays_roundtrip_reorder_and_fingerprint(tmp_path):
    p = tmp_path / "e.npz"
    io.save_arrays(p, [3, 1, 2], {"x": np.array([[3.0], [1.0], [2.0]])}, {"fingerprint": "abc"})
    pids, arrs, meta = io.load_arrays(p, expect_fingerprint="abc", pids=[1, 2, 3])
    assert pids.tolist() == [1, 2, 3] and arrs["x"].ravel().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(io.FingerprintMismatch, match="does not match"):
        io.load_arrays(p, expect_fingerprint="other")
    with pytest.raises(KeyError, match="Pids not in the file"):
        io.load_arrays(p, pids=[1, 9])


def test_save_arrays_refuses_nan_and_misaligned(tmp_path):
    with pytest.raises(ValueError, match="NaN/inf at Pid 2"):
        io.save_arrays(tmp_path / "a.npz", [1, 2], {"x": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="has 1 rows for 2 Pids"):
        io.save_arrays(tmp_path / "a.npz", [1, 2], {"x": np.array([1.0])})
    assert not (tmp_path / "a.npz").exists()


def test_load_arrays_refuses_an_edited_file(tmp_path):
    p = tmp_path / "e.npz"
    io.save_arrays(p, [1, 2], {"x": np.array([1.0, 2.0])}, {"fingerprint": "abc"})
    with np.load(p) as z:
        payload = {k: z[k] for k in z.files}
    payload["x"] = payload["x"][::-1].copy()             # same Pids and meta, other values
    np.savez(p, **payload)
    with pytest.raises(io.FingerprintMismatch) as ei:
        io.load_arrays(p, expect_fingerprint="abc")
    recorded = io.fingerprint_arrays([1, 2], {"x": np.array([1.0, 2.0])})
    found = io.fingerprint_arrays([1, 2], {"x": np.array([2.0, 1.0])})
    assert f"{p}: content fingerprint '{found}' differs from '{recorded}'" in str(ei.value)


# ----------------------------------------------------------------------------- fingerprints
def test_fingerprint_depends_on_order_and_content():
    assert io.fingerprint_ids([1, 2, 3]) == io.fingerprint_ids([1, 2, 3])
    assert io.fingerprint_ids([1, 2, 3]) != io.fingerprint_ids([1, 3, 2])
    assert io.fingerprint_ids([1, 2]) != io.fingerprint_ids([12])


def test_fingerprint_frame_is_pinned():
    # Golden values: the serialisation is the project's own (little-endian bytes, UTF-8,
    # null masks), so they must not move with pandas/pyarrow versions or platforms. If this
    # fails, every recorded fingerprint changes: bump the "v1" tag on purpose, not by accident.
    assert io.fingerprint_frame(_frame()) == "f3c09c6ca773740b"
    assert io.fingerprint_arrays([1, 2], {"x": np.array([[1.0, 2.0], [3.0, 4.0]],
                                                         dtype=np.float32)}) == "ac0ae382142f1fd9"


def test_fingerprint_frame_covers_every_value_not_storage():
    df = _frame()
    fp = io.fingerprint_frame(df)
    assert io.fingerprint_frame(df.copy()) == fp
    assert io.fingerprint_frame(df.astype({"name": object})) == fp          # object vs string
    assert io.fingerprint_frame(df.astype({"name": "string"})) == fp
    assert io.fingerprint_frame(df.set_index("name", drop=False)) == fp     # index ignored
    changed = [df.assign(x=[1.5, 0.0]), df.assign(name=["a", "é"]), df.assign(flag=[True, True]),
               df.assign(n=pd.array([1, 0], dtype="Int64")), df.iloc[::-1],
               df.rename(columns={"x": "y"}), df[["Pid", "name"]],
               df.assign(when=pd.to_datetime([1, None], unit="s", utc=True))]
    fps = [io.fingerprint_frame(d) for d in changed]
    assert fp not in fps and len(set(fps)) == len(fps)
    # null and empty string differ; one NaN bit pattern
    assert io.fingerprint_frame(pd.DataFrame({"s": ["", None]})) != \
        io.fingerprint_frame(pd.DataFrame({"s": ["", ""]}))
    odd_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)
    assert io.fingerprint_frame(pd.DataFrame({"x": odd_nan})) == \
        io.fingerprint_frame(pd.DataFrame({"x": [np.nan]}))


# ----------------------------------------------------------------------------- parquet
def test_parquet_content_fingerprint_is_deterministic(tmp_path):
    df = _frame()
    io.write_parquet(df, tmp_path / "a.parquet", {"fingerprint": "f"})
    io.write_parquet(df.copy(), tmp_path / "b.parquet", {"fingerprint": "f"})
    back, meta = io.read_parquet(tmp_path / "a.parquet", expect_fingerprint="f")
    assert meta["content_fingerprint"] == io.fingerprint_frame(df) == io.fingerprint_frame(back)
    assert io.read_parquet_meta(tmp_path / "b.parquet") == meta


def test_read_parquet_refuses_an_edited_file(tmp_path):
    path = tmp_path / "t.parquet"
    df = _frame()
    io.write_parquet(df, path, {"fingerprint": "f"})
    table = pq.read_table(path)                          # keeps the schema metadata
    i = table.schema.get_field_index("x")
    table = table.set_column(i, "x", pa.array([2.5, None]))
    pq.write_table(table, path)
    with pytest.raises(io.FingerprintMismatch) as ei:
        io.read_parquet(path, expect_fingerprint="f")
    found = io.fingerprint_frame(df.assign(x=[2.5, np.nan]))
    assert (f"{path}: content fingerprint '{found}' differs from "
            f"'{io.fingerprint_frame(df)}' recorded when it was written") in str(ei.value)
