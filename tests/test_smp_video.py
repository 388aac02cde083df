"""The SMP-Video reader (smpp_utils.data.smp_video): canonical table, splits, and one test per
bad-input class - each error names the file, the line and the field, and nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smpp_utils.core import paths
from smpp_utils.core.io import FingerprintMismatch, read_parquet, write_parquet
from smpp_utils.data import smp_video as V

from smp_video_fixture import TEST_PID0, TRAIN_PID0, edit_lines, edit_record, write_fixture

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def release(tmp_path):
    return write_fixture(tmp_path / "smpv", n_train=20, n_test=6)


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """paths.ROOT moved to a scratch folder, so data/<profile> writes land there."""
    monkeypatch.setattr(paths, "ROOT", tmp_path / "proj")
    return tmp_path / "proj"


def _error(root) -> str:
    with pytest.raises(V.SMPVideoFormatError) as ei:
        V.read_smp_video(root)
    return str(ei.value)


def _nothing_written(root, data_root, tmp_path):
    """Both writers refuse the input and leave no file: ``prepare`` and the CLI's convert."""
    with pytest.raises(V.SMPVideoFormatError):
        V.prepare(root, "smpv", 0.1, 0.1, 0, 0.1, 0.2)
    assert not (data_root / "data").exists() or not any((data_root / "data").rglob("*.parquet"))
    out = tmp_path / "out.parquet"
    assert V.main(["convert", str(root), str(out)]) == 1
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))


# ----------------------------------------------------------------------------- happy path
def test_canonical_table(release):
    df, report = V.read_smp_video(release)
    assert list(df.columns) == list(V.CANONICAL_COLUMNS)
    assert {c: str(df[c].dtype) for c in df.columns} == V.CANONICAL_COLUMNS
    assert df["Pid"].tolist() == list(range(TRAIN_PID0, TRAIN_PID0 + 20)) + list(range(TEST_PID0, TEST_PID0 + 6))
    assert df["pid"].iloc[0] == "POST00000001" and df["source_split"].tolist() == ["train"] * 20 + ["test"] * 6
    r = df.iloc[3]                                   # i = 3: suggested word, post_time 2022-04-04 03:03
    assert r["text"] == "word0 fyp topic3 sugg 3" and r["suggested_words"] == "sugg 3"
    assert r["postdate"] == pd.Timestamp("2022-04-04 03:03", tz="UTC")
    assert r["label"] == pytest.approx(3.5) and r["user_follower_count"] == 400.0 and r["video_duration"] == 13.0
    assert r["music_title"] == "original sound" and r["country"] == "US" and r["language"] == "en"
    assert df.loc[df["source_split"] == "test", "label"].isna().all()
    assert report["labelled"] == 20 and report["splits"]["test"]["user_rows_repeated"] == 1


def test_fingerprint_follows_values_not_order(release):
    df, _ = V.read_smp_video(release)
    fp = V.data_fingerprint(df)
    assert V.data_fingerprint(df.iloc[::-1]) == fp
    changed = df.copy()
    changed.loc[0, "label"] += 0.01
    assert V.data_fingerprint(changed) != fp


def test_splits_random_and_chrono(release, data_root):
    posts, report = V.prepare(release, "smpv", 0.1, 0.1, 3, 0.1, 0.2)
    rnd, fp = V.load_posts("smpv", "random")
    assert rnd["split"].value_counts().to_dict() == {"train": 16, "val": 2, "test": 2}
    ch, _ = V.load_posts("smpv", "chrono")
    assert ch["split"].value_counts().to_dict() == {"train": 14, "val": 2, "test": 4}
    t = ch.set_index("split")["postdate"]
    assert t.loc["test"].min() >= t.loc["val"].max() >= t.loc["train"].max()   # latest posts are test
    assert set(ch["Pid"]) == set(posts.loc[posts["label"].notna(), "Pid"])    # labelled posts only
    allp, _ = V.load_posts("smpv", "random", labelled_only=False)
    assert len(allp) == 26 and allp.loc[allp["source_split"] == "test", "split"].isna().all()
    # the same seed gives the same split; another seed another
    assert V.make_splits(posts, 0.1, 0.1, 3, 0.1, 0.2)[1] == report["split_fingerprints"]
    assert V.make_splits(posts, 0.1, 0.1, 4, 0.1, 0.2)[1]["random"] != report["split_fingerprints"]["random"]


def test_load_posts_refuses_edited_files(release, data_root):
    V.prepare(release, "smpv", 0.1, 0.1, 3, 0.1, 0.2)
    sp = paths.data_dir("smpv") / "splits.parquet"
    splits, meta = read_parquet(sp)
    a, b = splits.index[splits["random"] == "train"][0], splits.index[splits["random"] == "test"][0]
    splits.loc[[a, b], "random"] = ["test", "train"]
    write_parquet(splits, sp, {k: v for k, v in meta.items() if k != "content_fingerprint"})
    with pytest.raises(FingerprintMismatch, match="random"):
        V.load_posts("smpv", "random")


def test_cli_validate(release):
    ok = subprocess.run([sys.executable, "-m", "smpp_utils.data.smp_video", "validate", str(release)],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and "26 posts (20 train, 6 test)" in ok.stdout
    edit_record(release, "train", "popularity", 2, popularity="high")
    bad = subprocess.run([sys.executable, "-m", "smpp_utils.data.smp_video", "validate", str(release)],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and "INVALID" in bad.stderr and "line 3" in bad.stderr


# ----------------------------------------------------------------------------- bad input, one per class
def test_missing_file(release, data_root, tmp_path):
    path = release / V.FILES[("train", "videos")]
    path.unlink()
    msg = _error(release)
    assert str(path) in msg and "missing file" in msg
    _nothing_written(release, data_root, tmp_path)


def test_missing_test_file_when_the_split_is_present(release):
    path = release / V.FILES[("test", "users")]
    path.unlink()
    assert f"{path}: missing file (required for split 'test')" in _error(release)


def test_malformed_line(release, data_root, tmp_path):
    path = edit_lines(release, "train", "posts", lambda ls: ls.__setitem__(4, ls[4][:-5]))
    msg = _error(release)
    assert f"{path}: line 5: malformed JSON at column" in msg
    _nothing_written(release, data_root, tmp_path)


def test_not_an_object_and_not_utf8(release):
    path = edit_lines(release, "train", "users", lambda ls: ls.__setitem__(1, "[1, 2]"))
    assert f"{path}: line 2: expected a JSON object, got list" in _error(release)
    p2 = release / V.FILES[("train", "videos")]
    p2.write_bytes(p2.read_bytes().replace(b"Song A", b"Song \xff", 1))
    assert f"{p2}: line 1: byte 0xFF" in _error(release)


def test_duplicate_pid(release, data_root, tmp_path):
    path = edit_record(release, "train", "posts", 7, pid="POST00000003")
    msg = _error(release)
    assert f"{path}: line 8: field pid: duplicate pid 'POST00000003' (also on line 3)" in msg
    _nothing_written(release, data_root, tmp_path)


def test_duplicate_pid_across_splits_and_same_number(release):
    path = edit_record(release, "test", "posts", 0, pid="POST00000002")
    edit_record(release, "test", "videos", 0, pid="POST00000002")
    assert f"{path}: field pid: 'POST00000002' (number 2) is also a post of split 'train'" in _error(release)


def test_post_without_user(release, data_root, tmp_path):
    path = edit_record(release, "train", "posts", 5, uid="USER00000099")
    edit_record(release, "train", "videos", 5, uid="USER00000099")
    edit_record(release, "train", "popularity", 5, uid="USER00000099")
    msg = _error(release)
    assert f"{path}: line 6: field uid: post 'POST00000006' has uid 'USER00000099', which has no row in" in msg
    _nothing_written(release, data_root, tmp_path)


def test_post_without_video(release, data_root, tmp_path):
    edit_lines(release, "train", "videos", lambda ls: ls.pop(9))
    posts = release / V.FILES[("train", "posts")]
    msg = _error(release)
    assert f"{posts}: line 10: field pid: post 'POST00000010' has no row in SMP-Video_anonymized_videos_train.jsonl" in msg
    _nothing_written(release, data_root, tmp_path)


def test_video_row_of_another_user(release):
    path = edit_record(release, "train", "videos", 2, uid="USER00000004")
    assert f"{path}: line 3: field uid: 'USER00000004' for pid 'POST00000003'" in _error(release)


def test_non_numeric_popularity(release, data_root, tmp_path):
    path = edit_record(release, "train", "popularity", 11, popularity="lots")
    msg = _error(release)
    assert f"{path}: line 12: field popularity: expected a finite popularity, got \"lots\"" in msg
    _nothing_written(release, data_root, tmp_path)


def test_missing_popularity(release, data_root, tmp_path):
    path = edit_record(release, "train", "popularity", 4, popularity=None)
    assert f"{path}: line 5: field popularity: missing popularity" in _error(release)
    edit_record(release, "train", "popularity", 4, popularity=...)
    assert f"{path}: line 5: field popularity: missing popularity" in _error(release)
    edit_lines(release, "train", "popularity", lambda ls: ls.pop(4))
    posts = release / V.FILES[("train", "posts")]
    msg = _error(release)
    assert f"{posts}: line 5: field popularity: post 'POST00000005' has no popularity row" in msg
    _nothing_written(release, data_root, tmp_path)


def test_nan_popularity(release):
    path = edit_lines(release, "train", "popularity",
                      lambda ls: ls.__setitem__(0, ls[0].replace('"popularity": 2.0', '"popularity": NaN')))
    assert f"{path}: line 1: field popularity: expected a finite popularity, got NaN" in _error(release)


def test_unparsable_time(release, data_root, tmp_path):
    path = edit_record(release, "test", "posts", 2, post_time="2023-13-45 25:00")
    msg = _error(release)
    assert f"{path}: line 3: field post_time: unparsable time \"2023-13-45 25:00\"" in msg
    _nothing_written(release, data_root, tmp_path)


def test_conflicting_user_rows(release):
    path = release / V.FILES[("test", "users")]
    lines = path.read_text().splitlines()
    rec = json.loads(lines[-1])
    rec["user_follower_count"] = 1
    lines[-1] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    msg = _error(release)
    assert f"{path}: line {len(lines)}: field user_follower_count: user 'USER00000003' has 1" in msg


def test_problems_are_listed_together_and_capped(release):
    for i in range(8):
        edit_record(release, "train", "popularity", i, popularity="x")
    edit_record(release, "train", "posts", 0, post_time="yesterday")
    msg = _error(release)
    assert "problems in the SMP-Video files" in msg and "yesterday" in msg
    assert msg.count("field popularity") == 5 and "3 more lines with the same problem" in msg
