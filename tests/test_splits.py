"""data.splits: the two split schemes, split fingerprints bound to the data's content, and
load_posts refusing a posts.parquet / splits.parquet that is not what stage data wrote."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smpp_utils.core import io, paths
from smpp_utils.data import prepare, smpd, splits

from smpd_fixture import write_smpd_fixture  # tests/ is on sys.path (pytest rootdir)


def _posts(n=200, n_test_file=20):
    rng = np.random.default_rng(0)
    pid = rng.permutation(np.arange(1000, 1000 + n + n_test_file))
    date = pd.to_datetime(np.sort(rng.integers(0, 10**8, n + n_test_file)), unit="s", utc=True)
    return pd.DataFrame({"Pid": pid, "postdate": date, "label": rng.normal(6, 2, n + n_test_file),
                         "source_split": ["train"] * n + ["test"] * n_test_file,
                         "Uid": rng.integers(0, 30, n + n_test_file).astype(str)})


def test_random_split_sizes_disjoint_and_deterministic():
    posts = _posts()
    df, fps = splits.make_splits(posts, 0.1, 0.1, seed=3)
    train_file = df["Pid"].isin(posts.loc[posts.source_split == "train", "Pid"])
    counts = df.loc[train_file, "random"].value_counts()
    assert (counts["train"], counts["val"], counts["test"]) == (160, 20, 20)
    assert df.loc[~train_file, "random"].isna().all()    # test-file posts are not in the JRPP split
    df2, fps2 = splits.make_splits(posts.sample(frac=1, random_state=1), 0.1, 0.1, seed=3)
    assert fps == fps2 and df.equals(df2)                # row order of the table does not matter
    _, fps3 = splits.make_splits(posts, 0.1, 0.1, seed=4)
    assert fps3["random"] != fps["random"] and fps3["chrono"] == fps["chrono"]


def test_chrono_split_is_chronological():
    posts = _posts()
    df, _ = splits.make_splits(posts, 0.1, 0.1, seed=0)
    m = posts.merge(df, on="Pid")
    assert (m.loc[m.chrono == "test", "source_split"] == "test").all()
    assert m.loc[m.chrono == "train", "postdate"].max() <= m.loc[m.chrono == "val", "postdate"].min()
    assert (m.chrono == "val").sum() == 20


def test_split_fingerprint_covers_the_data_content():
    posts = _posts()
    df, fps = splits.make_splits(posts, 0.1, 0.1, seed=3)
    one_label = posts.copy()
    one_label.loc[5, "label"] += 0.01                    # same Pids, same assignment
    df2, fps2 = splits.make_splits(one_label, 0.1, 0.1, seed=3)
    assert df2.equals(df) and fps2["random"] != fps["random"] and fps2["chrono"] != fps["chrono"]
    assert splits.make_splits(posts.copy(), 0.1, 0.1, seed=3)[1] == fps   # deterministic


# ----------------------------------------------------------------------------- load_posts
@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Stage data run on a fixture release into tmp_path/data/t (profile 't')."""
    root = write_smpd_fixture(tmp_path / "smpd", n=40, test_labels=True)
    monkeypatch.setattr(paths, "data_dir", lambda profile: tmp_path / "data" / profile)
    cfg = SimpleNamespace(profile="t", source="smpd", smpd_root=str(root), lenient=False,
                          val_frac=0.2, test_frac=0.2, seed=0)
    prepare.prepare(cfg)
    return tmp_path / "data" / "t"


def _rewrite_column(path, name, fn):
    """Replace one column of a parquet file in place, KEEPING its schema metadata (the
    recorded fingerprints), as a careless edit or another tool would."""
    table = pq.read_table(path)
    i = table.schema.get_field_index(name)
    table = table.set_column(i, table.schema.field(i), pa.array(fn(table.column(name).to_pylist()),
                                                                 type=table.schema.field(i).type))
    pq.write_table(table, path)


def test_load_posts_reads_what_stage_data_wrote(data_dir):
    posts, fp = splits.load_posts("t", labelled_only=False)
    smeta = io.read_parquet_meta(data_dir / "splits.parquet")
    assert fp == smeta["fingerprints"]["random"] and posts["Pid"].is_monotonic_increasing
    assert len(posts) == 60 and posts["split"].notna().sum() == 40   # test-file posts: no random split
    assert smpd.data_fingerprint(posts) == io.read_parquet_meta(data_dir / "posts.parquet")["fingerprint"]


def test_reversed_labels_in_posts_are_refused(data_dir):
    path = data_dir / "posts.parquet"
    recorded = io.read_parquet_meta(path)["fingerprint"]
    before, _ = io.read_parquet(path)
    _rewrite_column(path, "label", lambda v: v[::-1])
    with pytest.raises(io.FingerprintMismatch) as ei:
        splits.load_posts("t")
    edited = before.assign(label=before["label"].to_numpy()[::-1])
    msg = str(ei.value)
    assert str(path) in msg and io.fingerprint_frame(edited) in msg and \
        io.read_parquet_meta(path)["content_fingerprint"] in msg
    # ... and rewritten through write_parquet (fresh content fingerprint, stale meta)
    io.write_parquet(edited, path, io.read_parquet_meta(path))
    with pytest.raises(io.FingerprintMismatch) as ei:
        splits.load_posts("t")
    assert (f"{path}: data fingerprint of its contents {smpd.data_fingerprint(edited)!r} "
            f"differs from the {recorded!r} recorded by stage data") in str(ei.value)


def test_a_stage_rerun_on_other_labels_refuses_older_artefacts(data_dir, tmp_path):
    posts, fp = splits.load_posts("t")
    emb = tmp_path / "emb.npz"
    io.save_arrays(emb, posts["Pid"], {"x": np.zeros((len(posts), 2))}, {"fingerprint": fp})
    # stage data rerun honestly on data whose labels are reversed (same Pids)
    raw, pmeta = io.read_parquet(data_dir / "posts.parquet")
    raw["label"] = raw["label"].to_numpy()[::-1]
    data_fp = smpd.data_fingerprint(raw)
    io.write_parquet(raw, data_dir / "posts.parquet", {**pmeta, "fingerprint": data_fp})
    df, fps = splits.make_splits(raw, 0.2, 0.2, 0)
    splits.write_splits(df, fps, data_fp, data_dir / "splits.parquet")
    _, fp2 = splits.load_posts("t")
    assert fp2 != fp
    with pytest.raises(io.FingerprintMismatch) as ei:
        io.load_arrays(emb, expect_fingerprint=fp2)
    assert str(emb) in str(ei.value) and fp in str(ei.value) and fp2 in str(ei.value)


def test_splits_of_other_posts_are_refused(data_dir, tmp_path):
    other = write_smpd_fixture(tmp_path / "other", n=30, test_labels=True)
    posts, _ = smpd.read_smpd(other)
    df, fps = splits.make_splits(posts, 0.2, 0.2, 0)
    splits.write_splits(df, fps, smpd.data_fingerprint(posts), data_dir / "splits.parquet")
    with pytest.raises(io.FingerprintMismatch, match=r"splits.parquet: made from data '[0-9a-f]+', "
                                                     r"but .*posts.parquet is '[0-9a-f]+'"):
        splits.load_posts("t")
    # ... even when its recorded data fingerprint was copied from the right posts.parquet
    right = io.read_parquet_meta(data_dir / "posts.parquet")["fingerprint"]
    splits.write_splits(df, fps, right, data_dir / "splits.parquet")
    with pytest.raises(io.FingerprintMismatch, match=r"its 45 Pids are not the 60 labelled posts"):
        splits.load_posts("t")


def test_edited_split_assignment_is_refused(data_dir):
    path = data_dir / "splits.parquet"
    _rewrite_column(path, "random", lambda v: ["train" if s == "test" else s for s in v])
    with pytest.raises(io.FingerprintMismatch, match="splits.parquet: content fingerprint"):
        splits.load_posts("t")
    df, smeta = pd.read_parquet(path), io.read_parquet_meta(path)
    io.write_parquet(df, path, smeta)                   # rewritten properly, stale fingerprints
    with pytest.raises(io.FingerprintMismatch,
                       match=r"split fingerprint of its 'random' assignment '[0-9a-f]+' differs"):
        splits.load_posts("t")
