"""Reader of the official SMPD files (SMP Challenge, Flickr) into the canonical table.

What it reads
    Under a ROOT folder, the seven files of a split (names in ``schema.RAW_FILES``):
    ``{split}_category.json``, ``{split}_text.json``, ``{split}_user_data.json``,
    ``{split}_additional_information.json``, ``{split}_temporalspatial_information.json``,
    ``{split}_label.txt`` (one float per line; required for train, optional for test) and
    ``{split}_img_filepath.txt`` (one image path per line, relative to ROOT). All files are
    row-aligned: row ``i`` of every file describes the same post.

    They are validated and joined into ONE typed table with exactly the columns and dtypes
    of ``schema.CANONICAL_COLUMNS``, rows in file order (train rows, then test rows).
    Postdate (unix seconds) -> UTC datetime; Latitude/Longitude '0' or '' -> NaN;
    Pathalias 'None' -> <NA>; photo_firstdate (unix seconds, '' or 'None' when unknown)
    -> nullable UTC datetime; photo_firstdatetaken likewise, and also accepts
    'YYYY-MM-DD HH:MM:SS' strings (read as UTC); label NaN for unlabelled test posts.

Release variants handled
    * each JSON file either a list of records or column-oriented ``{col: {"0": v, ...}}``;
    * ``timezone_id`` (2020) or ``timezone_timezone_id`` (2023) in the user data;
    * subcategory names with commas for spaces ('Girls,Fashion' -> 'Girls Fashion');
    * values stored as JSON strings or as numbers.
    Unknown category/subcategory names are accepted (real releases differ from our list).

Validation (every failure is a :class:`SMPDFormatError` naming the file, the row or Pid and
the problem): missing files, malformed JSON (with the decoder's line/column), missing
columns, row counts that differ between files, Pid/Uid that disagree across files at the
same row, duplicate Pids (also across splits), unparsable dates/numbers, empty
Category/Subcategory, labels that are NaN, non-numeric or outside ``schema.LABEL_RANGE``,
and images that are missing or unreadable at ``ROOT/<img_path>``. The image check is cheap
on purpose: existence plus ``PIL.Image.open(...).verify()`` (a header read for JPEG; a
file truncated after its header passes), about 16k images/s on a warm disk. With
``lenient=True`` posts whose image is missing or unreadable are dropped (counted in the
report, with a warning) instead of failing; every other problem is still an error.

CLI
    ``python -m smpp_utils.data.smpd validate ROOT [--split train] [--lenient] [--no-images]``
    prints a one-line summary and exits 0, or prints the problems and exits 1.
    ``python -m smpp_utils.data.smpd convert ROOT OUT.parquet [--lenient] [--no-images]``
    writes the canonical table atomically (meta: fingerprint + report).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..core.io import fingerprint_ids, write_parquet
from .schema import CANONICAL_COLUMNS, LABEL_RANGE, RAW_FILES

__all__ = ["SMPDFormatError", "read_split", "read_smpd", "data_fingerprint", "write_canonical",
           "summary", "main"]

JSON_KEYS = ("category", "text", "user", "additional", "temporalspatial")
TZ_KEYS = ("timezone_id", "timezone_timezone_id")
REQUIRED_COLUMNS = {
    "category": ["Uid", "Pid", "Category", "Subcategory", "Concept"],
    "text": ["Uid", "Pid", "Title", "Mediatype", "Alltags"],
    "temporalspatial": ["Uid", "Pid", "Postdate", "Latitude", "Longitude", "Geoaccuracy"],
    "additional": ["Uid", "Pid", "Pathalias", "Ispublic", "Mediastatus"],
    "user": ["Uid", "Pid", "photo_firstdate", "photo_firstdatetaken", "photo_count", "ispro",
             "canbuypro", "timezone_offset", "user_description", "location_description"],
}
# Cell values that mean "unknown" in numeric/date fields.
NULL_TOKENS = ("", "None", "none", "null", "NULL", "NaN", "nan", "0000-00-00 00:00:00")
MAX_LISTED = 5          # offending rows listed per problem kind (the rest are counted)
MAX_REPORTED_PIDS = 50  # dropped Pids kept in the report
# Measured (2 CPUs, warm page cache, 20k JPEGs): 1 thread 25k img/s (8x8) / 16k img/s
# (640x480); 4-16 threads were slower (6-11k img/s, GIL-bound). Raise for cold network disks.
IMAGE_THREADS = 1


class SMPDFormatError(ValueError):
    """Invalid SMPD input. ``problems`` holds one line per problem; each names the file,
    the row or Pid, and what is wrong."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = self.problems[:40]
        more = len(self.problems) - len(lines)
        text = lines[0] if len(self.problems) == 1 else \
            f"{len(self.problems)} problems in the SMPD files:\n" + "\n".join(f"  - {p}" for p in lines)
        super().__init__(text + (f"\n  ... and {more} more" if more > 0 else ""))


# ----------------------------------------------------------------------------- file level
def split_files(root, split: str) -> dict[str, Path]:
    """Paths of the seven official files of ``split`` under ``root`` (keys of RAW_FILES)."""
    return {k: Path(root) / v.format(split=split) for k, v in RAW_FILES.items()}


def _load_json(path: Path) -> tuple[pd.DataFrame, str]:
    """One JSON file as a DataFrame in file row order, plus its layout (records|columns)."""
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except json.JSONDecodeError as e:
        raise SMPDFormatError(f"{path}: malformed JSON at line {e.lineno} column {e.colno} "
                              f"(char {e.pos}): {e.msg}") from e
    except (UnicodeDecodeError, OSError) as e:
        raise SMPDFormatError(f"{path}: unreadable ({type(e).__name__}: {e})") from e
    if isinstance(obj, list):
        bad = next((i for i, r in enumerate(obj) if not isinstance(r, dict)), None)
        if bad is not None:
            raise SMPDFormatError(f"{path}: row {bad}: expected a JSON object (record), "
                                  f"got {type(obj[bad]).__name__}")
        df, layout = pd.DataFrame.from_records(obj), "records"
    elif isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
        df, layout = pd.DataFrame(obj), "columns"
        keys = pd.Series(df.index, dtype="string")
        ok = keys.str.fullmatch(r"\d+").fillna(False).to_numpy(dtype=bool)
        order = pd.to_numeric(keys.where(ok, "-1").astype(object)).to_numpy(dtype=np.int64)
        if not np.array_equal(np.sort(order), np.arange(len(df))):
            bad = keys[~ok].tolist()[:MAX_LISTED]
            raise SMPDFormatError(
                f"{path}: column-oriented file needs row keys '0'..'{len(df) - 1}'"
                + (f"; found non-integer keys {bad}" if bad else "; keys have gaps or repeats"))
        df = df.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    else:
        raise SMPDFormatError(f"{path}: expected a list of records or a column-oriented object "
                              f"{{column: {{row: value}}}}, got {type(obj).__name__}")
    if len(df) == 0:
        raise SMPDFormatError(f"{path}: no rows")
    return df, layout


def _read_lines(path: Path) -> list[str]:
    """Lines of a text file, trailing blank lines dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as e:
        raise SMPDFormatError(f"{path}: unreadable ({type(e).__name__}: {e})") from e
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


# ----------------------------------------------------------------------------- cell parsing
class _Problems:
    """Collects problems; each kind lists its first few rows and counts the rest."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, path: Path, mask, pids, what) -> None:
        """``what(i)`` describes row ``i``; rows where ``mask`` is true are offending."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        for i in rows[:MAX_LISTED]:
            pid = pids[i] if pids is not None else None
            where = f"row {i}" + (f" (Pid {pid})" if pid is not None and pid != "" else "")
            self.lines.append(f"{path}: {where}: {what(i)}")
        if len(rows) > MAX_LISTED:
            self.lines.append(f"{path}: ... {len(rows) - MAX_LISTED} more rows with the same problem")

    def raise_if_any(self) -> None:
        if self.lines:
            raise SMPDFormatError(self.lines)


def _text(s: pd.Series) -> pd.Series:
    """Cells as nullable strings (JSON numbers become their text)."""
    return s.astype("string")


def _nulls(txt: pd.Series) -> np.ndarray:
    return (txt.isna() | txt.str.strip().isin(NULL_TOKENS)).to_numpy(dtype=bool)


def _numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(float values with NaN for null tokens, mask of non-null unparsable cells, text)."""
    txt = _text(s)
    null = _nulls(txt)
    clean = txt.str.strip().astype(object).where(~null, np.nan)
    num = pd.to_numeric(clean, errors="coerce").to_numpy(dtype=float)
    return num, ~null & np.isnan(num), txt


def _parse_ids(s: pd.Series, path: Path, col: str, probs: _Problems) -> np.ndarray:
    """Integer ids (Pid) kept exact; unparsable ones are reported and set to -1."""
    txt = _text(s).str.strip()
    ok = txt.str.fullmatch(r"\d+(\.0+)?").fillna(False).to_numpy(dtype=bool)
    probs.add(path, ~ok, None, lambda i: f"{col} {txt.iloc[i]!r} is not an integer id")
    digits = txt.str.replace(r"\.0+$", "", regex=True).where(ok, "-1")
    return pd.to_numeric(digits.astype(object)).to_numpy(dtype=np.int64)


def _ints(s, path, col, pids, probs) -> pd.Series:
    txt = _text(s)
    bools = txt.str.strip().str.lower().map({"true": "1", "false": "0"})
    num, bad, _ = _numbers(bools.fillna(txt))
    bad |= ~np.isnan(num) & (np.mod(num, 1) != 0)
    probs.add(path, bad, pids, lambda i: f"{col} {txt.iloc[i]!r} is not an integer")
    return pd.Series(np.where(bad, np.nan, num)).astype("Int64")


def _coords(s, path, col, pids, probs, limit) -> np.ndarray:
    num, bad, txt = _numbers(s)
    out_of_range = ~np.isnan(num) & (np.abs(num) > limit)
    probs.add(path, bad, pids, lambda i: f"{col} {txt.iloc[i]!r} is not a number")
    probs.add(path, out_of_range, pids, lambda i: f"{col} {num[i]} outside [-{limit}, {limit}]")
    return np.where(bad | out_of_range | (num == 0), np.nan, num)  # '0' = no geotag


def _dates(s, path, col, pids, probs, *, required: bool, allow_text: bool = False) -> pd.Series:
    """Unix seconds (or, with ``allow_text``, ISO date strings read as UTC) -> UTC datetimes."""
    num, _, txt = _numbers(s)
    null = _nulls(txt)
    dt = pd.to_datetime(pd.Series(num), unit="s", utc=True, errors="coerce")
    if allow_text:
        as_text = pd.Series(txt.astype(object).where(np.isnan(num) & ~null, None))
        parsed = pd.to_datetime(as_text, format="ISO8601", utc=True, errors="coerce")
        dt = dt.fillna(parsed)
    dt = dt.astype("datetime64[ns, UTC]")
    probs.add(path, ~null & dt.isna().to_numpy(), pids,
              lambda i: f"unparsable date in {col}: {txt.iloc[i]!r}")
    if required:
        probs.add(path, null, pids, lambda i: f"{col} is empty")
    return dt


def _labels(lines: list[str], path: Path, pids, probs) -> np.ndarray:
    txt = pd.Series(lines, dtype="string").str.strip()
    num = pd.to_numeric(txt.astype(object), errors="coerce").to_numpy(dtype=float)
    said_nan = txt.str.lower().isin(["nan", "-nan", "+nan"]).to_numpy(dtype=bool)
    empty = (txt == "").to_numpy(dtype=bool)
    lo, hi = LABEL_RANGE
    probs.add(path, empty, pids, lambda i: f"line {i + 1}: label is empty")
    probs.add(path, said_nan, pids, lambda i: f"line {i + 1}: label is NaN")
    probs.add(path, np.isnan(num) & ~said_nan & ~empty, pids,
              lambda i: f"line {i + 1}: label {txt.iloc[i]!r} is not a number")
    probs.add(path, ~np.isnan(num) & ((num < lo) | (num > hi)), pids,
              lambda i: f"line {i + 1}: label {num[i]} outside LABEL_RANGE [{lo}, {hi}]")
    return num


# ----------------------------------------------------------------------------- images
def _image_problem(path: Path) -> str | None:
    """None when ``path`` is an image PIL can identify, else what is wrong (cheap check)."""
    if not path.is_file():
        return "missing image"
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:  # PIL raises many types for bad files
        return f"unreadable image ({type(e).__name__}: {e})"
    return None


def image_problems(root, img_paths, threads: int = IMAGE_THREADS) -> list[str | None]:
    """:func:`_image_problem` for every ``ROOT/<img_path>`` (file order kept; a thread pool when
    ``threads > 1``)."""
    root = Path(root)
    paths = [root / p for p in img_paths]
    if threads <= 1 or len(paths) < 256:
        return [_image_problem(p) for p in paths]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(_image_problem, paths, chunksize=256))


# ----------------------------------------------------------------------------- one split
def read_split(root, split: str, *, lenient: bool = False,
               check_images: bool = True) -> tuple[pd.DataFrame, dict]:
    """Canonical table (``schema.CANONICAL_COLUMNS``) of one split, in file row order, and a
    report ``{split, posts, users, labelled, dropped_images, dropped_pids, layouts, tz_key,
    images_checked, img_name_mismatch}``. Raises :class:`SMPDFormatError` on invalid input;
    ``lenient`` drops posts whose image is missing/unreadable instead."""
    root = Path(root)
    files = split_files(root, split)
    label_required = split == "train"
    missing = [p for k, p in files.items() if not p.is_file() and (k != "label" or label_required)]
    if missing:
        raise SMPDFormatError([f"{p}: missing file (required for split '{split}')" for p in missing])

    tables, layouts = {}, {}
    for key in JSON_KEYS:
        tables[key], layouts[files[key].name] = _load_json(files[key])
    col_problems = []
    for key, cols in REQUIRED_COLUMNS.items():
        absent = [c for c in cols if c not in tables[key].columns]
        if absent:
            col_problems.append(f"{files[key]}: missing column(s) {absent}")
    tz_key = next((k for k in TZ_KEYS if k in tables["user"].columns), None)
    if tz_key is None:
        col_problems.append(f"{files['user']}: missing column 'timezone_id' "
                            "(or 'timezone_timezone_id')")
    if col_problems:
        raise SMPDFormatError(col_problems)

    img_lines = _read_lines(files["img_filepath"])
    label_lines = _read_lines(files["label"]) if files["label"].is_file() else None
    counts = {files[k]: len(t) for k, t in tables.items()}
    counts[files["img_filepath"]] = len(img_lines)
    if label_lines is not None:
        counts[files["label"]] = len(label_lines)
    ref = files["category"]
    n = counts[ref]
    if any(c != n for c in counts.values()):
        raise SMPDFormatError([f"{p}: {c} rows, but {ref.name} has {n} (files must be row-aligned)"
                               for p, c in counts.items() if c != n])

    # Ids: parse, then every file must agree with the category file row by row.
    probs = _Problems()
    ids = {k: _parse_ids(t["Pid"], files[k], "Pid", probs) for k, t in tables.items()}
    probs.raise_if_any()
    pid = ids["category"]
    uid = _text(tables["category"]["Uid"]).str.strip().fillna("")
    pid_txt = pid.astype(str)
    probs.add(ref, (uid == "").to_numpy(), pid_txt, lambda i: "Uid is empty")
    for k in JSON_KEYS[1:]:
        other_uid = _text(tables[k]["Uid"]).str.strip().fillna("")
        probs.add(files[k], ids[k] != pid, pid_txt,
                  lambda i, k=k: f"Pid {ids[k][i]} but {ref.name} has Pid {pid[i]} at this row "
                                 "(files are not row-aligned)")
        probs.add(files[k], (ids[k] == pid) & (other_uid != uid).to_numpy(), pid_txt,
                  lambda i, o=other_uid: f"Uid {o.iloc[i]!r} but {ref.name} has Uid "
                                         f"{uid.iloc[i]!r} for this Pid")
    dup = pd.Series(pid).duplicated(keep=False).to_numpy()
    probs.add(ref, dup & pd.Series(pid).duplicated(keep="first").to_numpy(), pid_txt,
              lambda i: f"duplicate Pid {pid[i]} (rows {np.flatnonzero(pid == pid[i]).tolist()})")
    probs.raise_if_any()

    cat, txt, ts = tables["category"], tables["text"], tables["temporalspatial"]
    add, usr = tables["additional"], tables["user"]
    F = files
    out = pd.DataFrame({"Pid": pid, "Uid": uid})
    out["category"] = _text(cat["Category"]).str.strip()
    out["subcategory"] = _text(cat["Subcategory"]).str.replace(",", " ", regex=False).str.strip()
    for col in ("category", "subcategory"):
        probs.add(F["category"], out[col].fillna("").eq("").to_numpy(), pid_txt,
                  lambda i, col=col: f"{col.capitalize()} is empty")
    out["concept"] = _text(cat["Concept"]).fillna("")
    out["title"] = _text(txt["Title"]).fillna("")
    out["tags"] = _text(txt["Alltags"]).fillna("").str.strip()
    out["mediatype"] = _text(txt["Mediatype"])
    out["postdate"] = _dates(ts["Postdate"], F["temporalspatial"], "Postdate", pid_txt, probs,
                             required=True)
    out["latitude"] = _coords(ts["Latitude"], F["temporalspatial"], "Latitude", pid_txt, probs, 90)
    out["longitude"] = _coords(ts["Longitude"], F["temporalspatial"], "Longitude", pid_txt, probs, 180)
    out["geoaccuracy"] = _ints(ts["Geoaccuracy"], F["temporalspatial"], "Geoaccuracy", pid_txt, probs)
    pathalias = _text(add["Pathalias"])
    out["pathalias"] = pathalias.mask(_nulls(pathalias))
    out["ispublic"] = _ints(add["Ispublic"], F["additional"], "Ispublic", pid_txt, probs)
    out["mediastatus"] = _text(add["Mediastatus"])
    out["photo_firstdate"] = _dates(usr["photo_firstdate"], F["user"], "photo_firstdate", pid_txt,
                                    probs, required=False)
    out["photo_firstdatetaken"] = _dates(usr["photo_firstdatetaken"], F["user"],
                                         "photo_firstdatetaken", pid_txt, probs, required=False,
                                         allow_text=True)
    for col in ("photo_count", "ispro", "canbuypro"):
        out[col] = _ints(usr[col], F["user"], col, pid_txt, probs)
    out["timezone_offset"] = _text(usr["timezone_offset"])
    tz = _text(usr[tz_key])
    for other in TZ_KEYS:  # both keys present: the first fills gaps from the second
        if other != tz_key and other in usr.columns:
            tz = tz.fillna(_text(usr[other]))
    out["timezone_id"] = tz
    out["user_description"] = _text(usr["user_description"]).fillna("")
    out["location_description"] = _text(usr["location_description"]).fillna("")
    img = pd.Series(img_lines, dtype="string").str.strip()
    probs.add(F["img_filepath"], (img == "").to_numpy(), pid_txt, lambda i: "empty image path")
    out["img_path"] = img
    out["label"] = (_labels(label_lines, F["label"], pid_txt, probs) if label_lines is not None
                    else np.full(n, np.nan))
    out["source_split"] = split
    probs.raise_if_any()

    # Image file names are '<Pid>.jpg' in the official layout: count (not fail) deviations.
    stems = img.str.rsplit("/", n=1).str[-1].str.rsplit(".", n=1).str[0]
    name_mismatch = int((stems.str.fullmatch(r"\d+") & (stems != pid_txt)).sum())

    dropped: list[int] = []
    if check_images:
        found = image_problems(root, img_lines)
        bad = np.array([p is not None for p in found])
        if bad.any():
            if not lenient:
                probs.add(F["img_filepath"], bad, pid_txt,
                          lambda i: f"{found[i]} at {root / img.iloc[i]}")
                probs.raise_if_any()
            dropped = pid[bad].tolist()
            warnings.warn(f"{F['img_filepath']}: dropped {len(dropped)} post(s) of split '{split}' "
                          f"with a missing/unreadable image, e.g. Pid {dropped[:5]} "
                          f"({found[int(np.flatnonzero(bad)[0])]})", stacklevel=2)
            out = out[~bad].reset_index(drop=True)

    out = _canonical(out)
    report = {
        "split": split, "posts": int(len(out)), "users": int(out["Uid"].nunique()),
        "labelled": int(out["label"].notna().sum()),
        "dropped_images": len(dropped), "dropped_pids": dropped[:MAX_REPORTED_PIDS],
        "images_checked": bool(check_images), "img_name_mismatch": name_mismatch,
        "layouts": layouts, "tz_key": tz_key,
    }
    return out, report


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    return df[list(CANONICAL_COLUMNS)].astype(CANONICAL_COLUMNS).reset_index(drop=True)


# ----------------------------------------------------------------------------- both splits
def read_smpd(root, *, splits=("train", "test"), lenient: bool = False,
              check_images: bool = True) -> tuple[pd.DataFrame, dict]:
    """Canonical table of all ``splits`` (train required; another split is skipped when none
    of its files exist), rows in file order, train first. Report: ``{posts, users, labelled,
    dropped_images, splits_read, lenient, splits: {split: read_split report}}``."""
    root = Path(root)
    frames, reports = [], {}
    for split in splits:
        if split != "train" and not any(p.exists() for p in split_files(root, split).values()):
            continue
        part, reports[split] = read_split(root, split, lenient=lenient, check_images=check_images)
        frames.append(part)
    if not frames:
        raise SMPDFormatError(f"{root}: no SMPD files for splits {list(splits)}")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    dup = df["Pid"].duplicated(keep="first")
    if dup.any():
        raise SMPDFormatError([f"{root}: Pid {p} appears in more than one split "
                               f"({df.loc[df['Pid'] == p, 'source_split'].tolist()})"
                               for p in df.loc[dup, "Pid"].head(MAX_LISTED)])
    df = _canonical(df)
    report = {"posts": int(len(df)), "users": int(df["Uid"].nunique()),
              "labelled": int(df["label"].notna().sum()),
              "dropped_images": sum(r["dropped_images"] for r in reports.values()),
              "splits_read": list(reports), "lenient": bool(lenient), "splits": reports}
    return df, report


# ----------------------------------------------------------------------------- output
def data_fingerprint(df: pd.DataFrame) -> str:
    """Fingerprint of the canonical table: hash of its ordered Pids."""
    return fingerprint_ids(df["Pid"])


def _check_canonical(df: pd.DataFrame) -> None:
    if list(df.columns) != list(CANONICAL_COLUMNS):
        raise SMPDFormatError(f"canonical table: columns {list(df.columns)} differ from "
                              f"schema.CANONICAL_COLUMNS {list(CANONICAL_COLUMNS)}")
    wrong = {c: str(df[c].dtype) for c, t in CANONICAL_COLUMNS.items() if str(df[c].dtype) != t}
    if wrong:
        raise SMPDFormatError(f"canonical table: wrong dtypes {wrong} (expected "
                              f"{ {c: CANONICAL_COLUMNS[c] for c in wrong} })")


def write_canonical(df: pd.DataFrame, path, report: dict) -> Path:
    """Write the canonical table atomically with meta {fingerprint, report}."""
    _check_canonical(df)
    return write_parquet(df, path, {"fingerprint": data_fingerprint(df), "report": report})


def summary(df: pd.DataFrame) -> str:
    """One line: posts, users, categories, subcategories, label min/mean/max."""
    lab = df["label"].dropna()
    labels = (f"label min/mean/max {lab.min():.3f}/{lab.mean():.3f}/{lab.max():.3f} "
              f"({len(lab)} labelled)" if len(lab) else "no labels")
    return (f"{len(df)} posts, {df['Uid'].nunique()} users, {df['category'].nunique()} categories, "
            f"{df['subcategory'].nunique()} subcategories, {labels}")


# ----------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.data.smpd",
                                 description="Validate or convert official SMPD files.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check the files of ROOT, print a one-line summary")
    v.add_argument("root")
    v.add_argument("--split", default=None, help="only this split (default: train + test)")
    c = sub.add_parser("convert", help="write the canonical table of ROOT to OUT.parquet")
    c.add_argument("root")
    c.add_argument("out")
    for p in (v, c):
        p.add_argument("--lenient", action="store_true",
                       help="drop posts with a missing/unreadable image instead of failing")
        p.add_argument("--no-images", dest="images", action="store_false",
                       help="skip the image check")
    args = ap.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            if args.cmd == "validate" and args.split:
                df, report = read_split(args.root, args.split, lenient=args.lenient,
                                        check_images=args.images)
            else:
                df, report = read_smpd(args.root, lenient=args.lenient, check_images=args.images)
            if args.cmd == "convert":
                write_canonical(df, args.out, report)
    except SMPDFormatError as e:
        print(f"INVALID: {e}", file=sys.stderr)
        return 1
    print(summary(df) + (f" -> {os.fspath(args.out)}" if args.cmd == "convert" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
