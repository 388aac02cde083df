"""Tests of the official SMPD reader (smpp_utils.data.smpd) on tiny fixture releases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from smpp_utils.core import io as sio
from smpp_utils.data import smpd
from smpp_utils.data.schema import CANONICAL_COLUMNS

from smpd_fixture import POSTDATE0, TEST_PID0, TRAIN_PID0, write_smpd_fixture  # tests/ is on sys.path (pytest rootdir)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def release(tmp_path):
    return write_smpd_fixture(tmp_path / "smpd", n=12)


def _edit_json(root, name, fn):
    """Load a records-layout JSON file, apply ``fn(records)``, write it back."""
    path = Path(root) / name
    records = json.loads(path.read_text())
    fn(records)
    path.write_text(json.dumps(records))


def _edit_lines(root, name, fn):
    path = Path(root) / name
    lines = path.read_text().splitlines()
    fn(lines)
    path.write_text("\n".join(lines) + "\n")


def _error(root, **kw) -> str:
    with pytest.raises(smpd.SMPDFormatError) as ei:
        smpd.read_smpd(root, **kw)
    return str(ei.value)


# ----------------------------------------------------------------------------- happy path
def test_canonical_table_values_and_dtypes(release):
    df, report = smpd.read_smpd(release)
    assert list(df.columns) == list(CANONICAL_COLUMNS)
    assert {c: str(df[c].dtype) for c in df.columns} == CANONICAL_COLUMNS
    assert df["Pid"].tolist() == list(range(TRAIN_PID0, TRAIN_PID0 + 12)) + \
        list(range(TEST_PID0, TEST_PID0 + 6))                      # file order, train first
    assert df["source_split"].tolist() == ["train"] * 12 + ["test"] * 6
    assert df.index.equals(pd.RangeIndex(18))
    r0, r1, r2 = df.iloc[0], df.iloc[1], df.iloc[2]
    assert r0["subcategory"] == "Girls Fashion" and r1["subcategory"] == "Good Morning"
    assert r1["postdate"] == pd.Timestamp(POSTDATE0 + 3600, unit="s", tz="UTC")
    assert np.isnan(r0["latitude"]) and np.isnan(r1["longitude"])     # '0' and ''
    assert r2["latitude"] == pytest.approx(40.7128) and r2["geoaccuracy"] == 16
    assert r0["pathalias"] == "alias0" and pd.isna(r1["pathalias"])   # 'None' -> NA
    assert pd.isna(r0["photo_firstdate"]) and pd.isna(r1["photo_firstdate"])  # '' / 'None'
    assert r2["photo_firstdate"] == pd.Timestamp(1300000000, unit="s", tz="UTC")
    assert r0["photo_firstdatetaken"] == pd.Timestamp("2009-05-08 15:28:47", tz="UTC")
    assert r0["title"] == "" and r0["img_path"] == "train/0@N10/1000.jpg"
    assert r1["label"] == pytest.approx(2.37)
    assert df.loc[df["source_split"] == "test", "label"].isna().all()
    assert report["posts"] == 18 and report["users"] == 4 and report["labelled"] == 12
    assert report["dropped_images"] == 0 and report["splits_read"] == ["train", "test"]
    json.dumps(report)  # goes into parquet metadata


def test_layouts_and_variants_give_the_same_table(tmp_path):
    a, ra = smpd.read_smpd(write_smpd_fixture(tmp_path / "a"))
    b, rb = smpd.read_smpd(write_smpd_fixture(tmp_path / "b", layout="columns",
                                              tz_key="timezone_timezone_id", comma_names=False))
    pd.testing.assert_frame_equal(a, b)
    assert smpd.data_fingerprint(a) == smpd.data_fingerprint(b) == \
        sio.fingerprint_frame(a.sort_values("Pid"))     # content, in Pid order
    assert set(ra["splits"]["train"]["layouts"].values()) == {"records"}
    assert set(rb["splits"]["train"]["layouts"].values()) == {"columns"}
    assert rb["splits"]["train"]["tz_key"] == "timezone_timezone_id"


def test_column_layout_row_keys_are_ordered_numerically(tmp_path):
    root = write_smpd_fixture(tmp_path / "c", n=12, layout="columns", with_test=False)
    path = root / "train_category.json"
    cols = json.loads(path.read_text())
    # key order "11","10",...,"0" and lexicographic traps ("10" < "2") must not reorder rows
    path.write_text(json.dumps({c: dict(reversed(list(v.items()))) for c, v in cols.items()}))
    df, _ = smpd.read_split(root, "train")
    assert df["Pid"].tolist() == list(range(TRAIN_PID0, TRAIN_PID0 + 12))


def test_column_layout_with_gaps_is_an_error(tmp_path):
    root = write_smpd_fixture(tmp_path / "g", n=4, layout="columns", with_test=False)
    path = root / "train_text.json"
    cols = json.loads(path.read_text())
    path.write_text(json.dumps({c: {("7" if k == "3" else k): x for k, x in v.items()}
                                for c, v in cols.items()}))
    assert "train_text.json: column-oriented file needs row keys '0'..'3'; keys have gaps" in \
        _error(root)


def test_test_split_is_optional_and_may_be_labelled(tmp_path):
    df, report = smpd.read_smpd(write_smpd_fixture(tmp_path / "t", with_test=False))
    assert report["splits_read"] == ["train"] and (df["source_split"] == "train").all()
    df, _ = smpd.read_smpd(write_smpd_fixture(tmp_path / "l", test_labels=True))
    assert df["label"].notna().all()


def test_numbers_stored_as_json_numbers(release):
    def to_numbers(recs):
        for r in recs:
            r["Pid"], r["Postdate"], r["Geoaccuracy"] = int(r["Pid"]), int(r["Postdate"]), 3
    _edit_json(release, "train_temporalspatial_information.json", to_numbers)
    df, _ = smpd.read_split(release, "train")
    assert df["postdate"].iloc[0] == pd.Timestamp(POSTDATE0, unit="s", tz="UTC")
    assert (df["geoaccuracy"] == 3).all()


# ----------------------------------------------------------------------------- bad input
def test_missing_file(release):
    (release / "train_text.json").unlink()
    msg = _error(release)
    assert "train_text.json: missing file" in msg


def test_missing_train_label_is_an_error_but_test_label_is_not(release):
    assert not (release / "test_label.txt").exists()
    (release / "train_label.txt").unlink()
    assert "train_label.txt: missing file" in _error(release)


def test_partial_test_split_is_an_error(release):
    (release / "test_user_data.json").unlink()
    assert "test_user_data.json: missing file (required for split 'test')" in _error(release)


def test_malformed_json_names_position(release):
    path = release / "train_category.json"
    path.write_text(path.read_text()[:-30])
    msg = _error(release)
    assert "train_category.json: malformed JSON at line 1 column" in msg and "(char " in msg


def test_neither_records_nor_columns(release):
    (release / "train_text.json").write_text(json.dumps({"Pid": [1, 2]}))
    assert "train_text.json: expected a list of records or a column-oriented" in _error(release)


def test_missing_column(release):
    _edit_json(release, "train_user_data.json", lambda rs: [r.pop("timezone_id") for r in rs])
    assert "train_user_data.json: missing column 'timezone_id'" in _error(release)


def test_row_counts_differ(release):
    _edit_json(release, "train_text.json", lambda rs: rs.pop())
    msg = _error(release)
    assert "train_text.json: 11 rows, but train_category.json has 12" in msg
    _edit_json(release, "train_text.json", lambda rs: rs.append(dict(rs[-1])))
    _edit_lines(release, "train_label.txt", lambda ls: ls.append("3.0"))
    assert "train_label.txt: 13 rows, but train_category.json has 12" in _error(release)


def test_pid_disagrees_across_files(release):
    def swap(rs):
        rs[3], rs[4] = rs[4], rs[3]
    _edit_json(release, "train_additional_information.json", swap)
    msg = _error(release)
    assert ("train_additional_information.json: row 3 (Pid 1003): Pid 1004 but "
            "train_category.json has Pid 1003 at this row") in msg


def test_uid_disagrees_across_files(release):
    _edit_json(release, "train_user_data.json", lambda rs: rs[5].update(Uid="99@N99"))
    msg = _error(release)
    assert "train_user_data.json: row 5 (Pid 1005): Uid '99@N99' but train_category.json" in msg


def test_bad_pid(release):
    _edit_json(release, "train_category.json", lambda rs: rs[2].update(Pid="abc"))
    assert "train_category.json: row 2: Pid 'abc' is not an integer id" in _error(release)


def test_duplicate_pid(release):
    def dup(rs):
        rs[7].update(Pid="1002")
    for name in ("category", "text", "user_data", "additional_information",
                 "temporalspatial_information"):
        _edit_json(release, f"train_{name}.json", dup)
    assert "train_category.json: row 7 (Pid 1002): duplicate Pid 1002 (rows [2, 7])" in \
        _error(release, check_images=False)


def test_duplicate_pid_across_splits(release):
    for name in ("category", "text", "user_data", "additional_information",
                 "temporalspatial_information"):
        _edit_json(release, f"test_{name}.json", lambda rs: rs[0].update(Pid="1001"))
    assert "Pid 1001 appears in more than one split (['train', 'test'])" in \
        _error(release, check_images=False)


@pytest.mark.parametrize("value, problem", [
    ("yesterday", "unparsable date in Postdate: 'yesterday'"),
    ("1e30", "Postdate '1e30' is outside the plausible window 2000-01-01..2030-12-31 (data.date_window)"),
    ("", "Postdate is empty"),
])
def test_unparsable_postdate(release, value, problem):
    _edit_json(release, "train_temporalspatial_information.json",
               lambda rs: rs[4].update(Postdate=value))
    assert f"train_temporalspatial_information.json: row 4 (Pid 1004): {problem}" in _error(release)


def test_unparsable_photo_firstdate(release):
    _edit_json(release, "train_user_data.json", lambda rs: rs[1].update(photo_firstdate="soon"))
    assert "train_user_data.json: row 1 (Pid 1001): unparsable date in photo_firstdate: 'soon'" \
        in _error(release)


@pytest.mark.parametrize("value, problem", [
    ("nan", "line 3: label is NaN"),
    ("many", "line 3: label 'many' is not a number"),
    ("", "line 3: label is empty"),
    ("31.5", "line 3: label 31.5 outside LABEL_RANGE [0.0, 30.0]"),
    ("-1", "line 3: label -1.0 outside LABEL_RANGE [0.0, 30.0]"),
])
def test_bad_label(release, value, problem):
    def put(ls):
        ls[2] = value
    _edit_lines(release, "train_label.txt", put)
    assert f"train_label.txt: row 2 (Pid 1002): {problem}" in _error(release)


def test_empty_subcategory_is_an_error_unknown_names_are_not(release):
    _edit_json(release, "train_category.json",
               lambda rs: (rs[0].update(Subcategory="Brand,New,Thing"), rs[6].update(Subcategory="")))
    assert "train_category.json: row 6 (Pid 1006): Subcategory is empty" in _error(release)
    _edit_json(release, "train_category.json", lambda rs: rs[6].update(Subcategory="Cats"))
    df, _ = smpd.read_smpd(release)
    assert df["subcategory"].iloc[0] == "Brand New Thing"


def test_bad_number_fields(release):
    _edit_json(release, "train_temporalspatial_information.json",
               lambda rs: rs[2].update(Latitude="north", Longitude="200"))
    _edit_json(release, "train_user_data.json", lambda rs: rs[3].update(photo_count="2.5"))
    msg = _error(release)
    assert "train_temporalspatial_information.json: row 2 (Pid 1002): Latitude 'north' is not a number" in msg
    assert "row 2 (Pid 1002): Longitude 200.0 outside [-180, 180]" in msg
    assert "train_user_data.json: row 3 (Pid 1003): photo_count '2.5' is not an integer" in msg


def test_missing_and_unreadable_images_strict(release):
    (release / "train/1@N11/1001.jpg").unlink()
    (release / "test/2@N12/5002.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(smpd.SMPDFormatError) as ei:
        smpd.read_split(release, "train")
    assert f"train_img_filepath.txt: row 1 (Pid 1001): missing image at {release / 'train/1@N11/1001.jpg'}" \
        in str(ei.value)
    with pytest.raises(smpd.SMPDFormatError, match=r"row 2 \(Pid 5002\): unreadable image "
                                                   r"\(UnidentifiedImageError"):
        smpd.read_split(release, "test")
    df, _ = smpd.read_smpd(release, check_images=False)
    assert len(df) == 18


def test_lenient_drops_and_counts(release):
    (release / "train/1@N11/1001.jpg").unlink()
    (release / "train/2@N12/1006.jpg").write_bytes(b"")
    (release / "test/2@N12/5002.jpg").write_bytes(b"garbage")
    with pytest.warns(UserWarning) as caught:
        df, report = smpd.read_smpd(release, lenient=True)
    said = [str(w.message) for w in caught]
    assert len(said) == 2 and "dropped 2 post(s) of split 'train'" in said[0]
    assert "dropped 1 post(s) of split 'test'" in said[1] and "UnidentifiedImageError" in said[1]
    assert len(df) == 15 and not df["Pid"].isin([1001, 1006, 5002]).any()
    assert df.index.equals(pd.RangeIndex(15))
    assert report["dropped_images"] == 3 and report["posts"] == 15
    assert report["splits"]["train"]["dropped_pids"] == [1001, 1006]
    assert report["splits"]["test"]["dropped_pids"] == [5002]


def test_lenient_does_not_hide_other_problems(release):
    _edit_lines(release, "train_label.txt", lambda ls: ls.__setitem__(0, "nan"))
    with pytest.raises(smpd.SMPDFormatError, match="label is NaN"):
        smpd.read_smpd(release, lenient=True)


def test_error_lists_several_problems(release):
    _edit_lines(release, "train_label.txt", lambda ls: ls.__setitem__(slice(0, 8), ["x"] * 8))
    err = pytest.raises(smpd.SMPDFormatError, smpd.read_split, release, "train").value
    assert len(err.problems) == 6 and "... 3 more rows with the same problem" in err.problems[-1]
    assert str(err).startswith("6 problems in the SMPD files:")


# ----------------------------------------------------------------------------- writing
def test_write_canonical_roundtrip(release, tmp_path):
    df, report = smpd.read_smpd(release)
    out = smpd.write_canonical(df, tmp_path / "out" / "posts.parquet", report)
    back, meta = sio.read_parquet(out, expect_fingerprint=smpd.data_fingerprint(df))
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert {c: str(back[c].dtype) for c in back.columns} == CANONICAL_COLUMNS
    assert meta["report"]["posts"] == 18


def test_write_canonical_is_atomic(release, tmp_path, monkeypatch):
    df, report = smpd.read_smpd(release)
    target = tmp_path / "out" / "posts.parquet"

    def half_write(table, where, **kw):
        Path(where).write_bytes(b"PAR1 partial")
        raise OSError("disk full")
    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(OSError, match="disk full"):
        smpd.write_canonical(df, target, report)
    assert list(target.parent.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(smpd.SMPDFormatError, match="wrong dtypes"):
        smpd.write_canonical(df.astype({"label": "float32"}), target, report)
    assert list(target.parent.iterdir()) == []


def test_summary_line(release):
    df, _ = smpd.read_smpd(release)
    assert smpd.summary(df) == ("18 posts, 4 users, 5 categories, 5 subcategories, "
                                "label min/mean/max 1.000/7.368/14.700 (12 labelled)")
    assert smpd.summary(df[df["source_split"] == "test"]).endswith("no labels")


# ----------------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "smpp_utils.data.smpd", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_cli_validate_and_convert(release, tmp_path):
    ok = _cli("validate", release, "--split", "train")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("12 posts, 4 users, 5 categories")
    out = tmp_path / "posts.parquet"
    (release / "test/0@N10/5000.jpg").unlink()
    bad = _cli("convert", release, out)
    assert bad.returncode == 1 and not out.exists()
    assert "test_img_filepath.txt: row 0 (Pid 5000): missing image" in bad.stderr
    with pytest.warns(UserWarning, match="dropped 1 post"):
        assert smpd.main(["convert", str(release), str(out), "--lenient"]) == 0  # in-process
    _, meta = sio.read_parquet(out)
    assert meta["report"]["dropped_images"] == 1 and meta["report"]["posts"] == 17


def test_main_in_process_exit_codes(release, capsys):
    assert smpd.main(["validate", str(release), "--no-images"]) == 0
    assert capsys.readouterr().out.startswith("18 posts")
    assert smpd.main(["validate", str(release / "nowhere")]) == 1
    assert "train_category.json: missing file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- hostile input
ALL_JSON = ("category", "text", "user_data", "additional_information", "temporalspatial_information")


def _set_image_line(root, row, value):
    _edit_lines(root, "train_img_filepath.txt", lambda ls: ls.__setitem__(row, value))


def _outside_jpeg(root) -> Path:
    """A valid JPEG beside (not under) the data root."""
    out = Path(root).parent / "outside.jpg"
    out.write_bytes((Path(root) / "train/0@N10/1000.jpg").read_bytes())
    return out


def _abs_path(root):
    _set_image_line(root, 1, str(_outside_jpeg(root)))


def _dotdot(root):
    _outside_jpeg(root)
    _set_image_line(root, 1, "train/../../outside.jpg")


def _symlink(root):
    target = root / "train/1@N11/1001.jpg"
    target.unlink()
    target.symlink_to(_outside_jpeg(root))


def _all_files(**kv):
    def edit(root):
        for name in ALL_JSON:
            _edit_json(root, f"train_{name}.json", lambda rs: rs[2].update(**kv))
    return edit


def _edit(name, row, **kv):
    return lambda root: _edit_json(root, name, lambda rs: rs[row].update(**kv))


def _bad_bytes(name, old: bytes, new: bytes):
    def edit(root):
        p = root / name
        p.write_bytes(p.read_bytes().replace(old, new, 1))
    return edit


# (id, edit of a valid release, text the error must contain)
BAD_INPUTS = [
    ("absolute-image-path", _abs_path,
     "train_img_filepath.txt: row 1 (Pid 1001): absolute image path '/"),
    ("dotdot-image-path", _dotdot,
     "train_img_filepath.txt: row 1 (Pid 1001): image path 'train/../../outside.jpg' leaves the "
     "data root through '..'"),
    ("symlink-outside", _symlink,
     "train_img_filepath.txt: row 1 (Pid 1001): image path resolves outside the data root (to "),
    ("title-object", _edit("train_text.json", 2, Title={"a": 1}),
     'train_text.json: row 2 (Pid 1002): field Title: expected a JSON string, got object {"a": 1}'),
    ("category-number", _edit("train_category.json", 2, Category=5),
     "train_category.json: row 2 (Pid 1002): field Category: expected a JSON string, got number 5"),
    ("uid-list", _edit("train_category.json", 2, Uid=["0@N10"]),
     'train_category.json: row 2 (Pid 1002): field Uid: expected a JSON string or number, got '
     'array ["0@N10"]'),
    ("pid-bool", _all_files(Pid=True),
     "train_category.json: row 2: field Pid: expected a JSON string or number, got boolean true"),
    ("latitude-array", _edit("train_temporalspatial_information.json", 4, Latitude=[1, 2]),
     "row 4 (Pid 1004): field Latitude: expected a JSON string or number, got array [1, 2]"),
    ("ispro-object", _edit("train_user_data.json", 3, ispro={}),
     "train_user_data.json: row 3 (Pid 1003): field ispro: expected a JSON string or number or "
     "boolean, got object {}"),
    ("tz-number", _edit("train_user_data.json", 1, timezone_id=7),
     "train_user_data.json: row 1 (Pid 1001): field timezone_id: expected a JSON string, got number 7"),
    ("pid-beyond-int64-text", _all_files(Pid=str(2**64)),
     f"train_category.json: row 2: Pid {2**64} is beyond the int64 range (max 9223372036854775807)"),
    ("pid-beyond-int64-number", _all_files(Pid=2**70),
     f"train_text.json: row 2: Pid {2**70} is beyond the int64 range"),
    ("count-beyond-int64", _edit("train_user_data.json", 2, photo_count="1e30"),
     "train_user_data.json: row 2 (Pid 1002): photo_count 1e30 is beyond the int64 range"),
    ("lone-surrogate", _edit("train_text.json", 2, Title="a\ud800b"),
     "train_text.json: row 2 (Pid 1002): field Title: lone surrogate \\ud800 (not encodable as "
     "UTF-8) at character 1"),
    ("invalid-utf8-json", _bad_bytes("train_user_data.json", b"I take photos", b"I take \xffphotos"),
     "train_user_data.json: row 0 (Pid 1000): field user_description: byte 0xFF that is not "
     "valid UTF-8 at character 7"),
    ("invalid-utf8-label", _bad_bytes("train_label.txt", b"2.37", b"2.3\x807"),
     "train_label.txt: row 1 (Pid 1001): line 2: label '2.3\\udc807': byte 0x80 that is not valid "
     "UTF-8 at character 3"),
    ("invalid-utf8-img-path", _bad_bytes("train_img_filepath.txt", b"1003.jpg", b"1003\xfe.jpg"),
     "train_img_filepath.txt: row 3 (Pid 1003): image path 'train/3@N13/1003\\udcfe.jpg': byte "
     "0xFE that is not valid UTF-8"),
]


@pytest.mark.parametrize("edit, expected", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_hostile_input_is_refused_by_name(release, edit, expected):
    edit(release)
    msg = _error(release)
    assert expected in msg, msg
    assert str(release) in msg                   # the file is named by its full path
    if "image path" not in expected or "resolves outside" in expected:
        return
    assert expected in _error(release, check_images=False)   # a text check: no images needed


@pytest.mark.parametrize("edit, expected", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_cli_refuses_hostile_input_and_writes_nothing(release, tmp_path, capsys, edit, expected):
    edit(release)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert smpd.main(["validate", str(release)]) == 1
    assert smpd.main(["convert", str(release), str(out_dir / "posts.parquet"), "--lenient"]) == 1
    err = capsys.readouterr().err
    assert err.count("INVALID: ") == 2 and expected in err
    assert list(out_dir.iterdir()) == []        # no canonical table, no temp file


def test_cli_subprocess_exit_code_on_unencodable_text(release, tmp_path):
    _edit("train_text.json", 2, Title="a\ud800b")(release)
    out = tmp_path / "posts.parquet"
    res = _cli("convert", release, out)
    assert res.returncode == 1 and not out.exists() and "Traceback" not in res.stderr
    assert "train_text.json: row 2 (Pid 1002): field Title: lone surrogate" in res.stderr


def test_int64_max_pid_is_accepted(release):
    _all_files(Pid=str(2**63 - 1))(release)
    df, _ = smpd.read_split(release, "train", check_images=False)
    assert df["Pid"].iloc[2] == 2**63 - 1


# ----------------------------------------------------------------------------- real-data quirks
def test_emoji_long_titles_crlf_and_png_named_jpg_are_accepted(release, tmp_path):
    long_title = "sunset " * 20_000                                   # 140k characters
    _edit_json(release, "train_text.json", lambda rs: (
        rs[1].update(Title="🌅 beach 🏖️ día", Alltags="🌊 ☀️"), rs[2].update(Title=long_title)))
    _edit_json(release, "train_user_data.json", lambda rs: rs[0].update(user_description="📷 ✨"))
    # an escaped astral character (a surrogate PAIR in JSON) is fine, unlike a lone one
    path = release / "train_category.json"
    path.write_text(path.read_text().replace('"concept1"', '"concept\\ud83d\\ude00"', 1))
    for f in release.glob("*.*"):                                     # CRLF everywhere
        if f.suffix in (".json", ".txt"):
            f.write_bytes(f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    (release / "train_text.json").write_bytes(
        json.dumps(json.loads((release / "train_text.json").read_text()), indent=1,
                   ensure_ascii=False).replace("\n", "\r\n").encode())   # multi-line, raw UTF-8
    Image.new("RGB", (8, 8), (1, 2, 3)).save(release / "train/3@N13/1003.jpg", format="PNG")
    df, _ = smpd.read_split(release, "train", decode_images=True)
    assert df["title"].iloc[1] == "🌅 beach 🏖️ día" and df["tags"].iloc[1] == "🌊 ☀️"
    assert df["title"].iloc[2] == long_title and df["concept"].iloc[1] == "concept😀"
    assert df["user_description"].iloc[0] == "📷 ✨"
    assert df["img_path"].tolist()[:2] == ["train/0@N10/1000.jpg", "train/1@N11/1001.jpg"]
    assert df["label"].iloc[1] == pytest.approx(2.37)                 # no '\r' left in lines
    out = smpd.write_canonical(df, tmp_path / "posts.parquet", {})
    back, _ = sio.read_parquet(out, expect_fingerprint=smpd.data_fingerprint(df))
    assert back["title"].iloc[1] == "🌅 beach 🏖️ día"


def test_byte_order_mark_is_accepted(release):
    for name in ("train_category.json", "train_label.txt"):
        p = release / name
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    df, _ = smpd.read_split(release, "train")
    assert df["label"].iloc[0] == pytest.approx(1.0)


def test_truncated_jpeg_passes_the_header_check_but_not_decode(release):
    p = release / "train/1@N11/1001.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(p, format="JPEG", quality=90)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    df, report = smpd.read_split(release, "train")                      # header only: passes
    assert len(df) == 12 and report["images_decoded"] is False
    with pytest.raises(smpd.SMPDFormatError, match=r"train_img_filepath.txt: row 1 \(Pid 1001\): "
                                                   r"unreadable image \(OSError: image file is truncated"):
        smpd.read_split(release, "train", decode_images=True)


def test_symlink_inside_the_root_is_fine_and_lenient_does_not_drop_escapes(release):
    inside = release / "train/1@N11/1001.jpg"
    inside.unlink()
    inside.symlink_to(release / "train/0@N10/1000.jpg")
    smpd.read_split(release, "train")
    _symlink(release)
    with pytest.raises(smpd.SMPDFormatError, match="resolves outside the data root"):
        smpd.read_split(release, "train", lenient=True)
