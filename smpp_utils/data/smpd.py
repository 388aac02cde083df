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
columns, the JSON type of every field (``schema.RAW_FIELD_TYPES``: text fields strings,
ids/numbers/dates strings or numbers, flags also booleans; an object as Title or a number
as Category is refused, naming field, expected and got), text that UTF-8 cannot encode
(bytes that are not UTF-8 in a file, lone surrogates from JSON escapes), row counts that
differ between files, Pid/Uid that disagree across files at the same row, ids beyond int64,
duplicate Pids (also across splits), unparsable dates/numbers, integers beyond int64,
empty Category/Subcategory, labels that are NaN, non-numeric or outside
``schema.LABEL_RANGE``, image paths that leave the data root (absolute, through '..', or
- checked with the images - a symlink resolving outside it; an error even when lenient),
and images that are missing or unreadable at ``ROOT/<img_path>``. Also: a record that
states a key twice or lacks a key its file needs (both layouts), JSON's non-standard
NaN/Infinity literals and numbers beyond float range, a Postdate outside the plausible
window ``date_window`` (``DATE_WINDOW``, proposed knob ``data.date_window``; dates are parsed
at microsecond resolution and bounded before the nanosecond cast, so '99999999999' or
'9999-12-31' never overflow), and an image larger than ``max_image_pixels``
(``MAX_IMAGE_PIXELS``, proposed knob ``data.max_image_pixels``; judged from the header,
before any decoding; PIL's decompression-bomb warning becomes this error). Accepted as in
real data: emoji and other non-ASCII text, very long titles, CRLF line endings, a UTF-8
byte-order mark, PNGs named .jpg (the content decides), and optional user-profile dates
outside their window (``photo_firstdate`` outside ``date_window``, ``photo_firstdatetaken``
before ``CAMERA_DATES_FROM`` or after the window: Flickr profiles carry sentinel dates such
as 1000-01-01 and 9999-12-31), which read as unknown and are counted in the report
(``dates_outside_window``) with a warning.

The image check is cheap by default: existence plus ``PIL.Image.open(...).verify()`` (a
header read for JPEG; a file truncated after its header passes), 0.06 s per 1,000 images
(warm disk, 64x64 or 640x480). ``decode_images=True`` (CLI ``--decode-images``) decodes every
pixel and catches truncated/corrupt bodies: 0.13 s per 1,000 64x64 and 1.6 s per 1,000
640x480 JPEGs (about 8 minutes for the 305k SMPD train images on one core). With
``lenient=True`` posts whose image is missing or unreadable are dropped (counted in the
report, with a warning) instead of failing; every other problem is still an error. Nothing
is written unless the whole input is valid.

CLI
    ``python -m smpp_utils.data.smpd validate ROOT [--split train] [--lenient] [--no-images]
    [--decode-images] [--date-window A,B] [--max-image-pixels N]`` prints a one-line summary and exits 0, or prints the problems and
    exits 1. ``python -m smpp_utils.data.smpd convert ROOT OUT.parquet [same options]``
    writes the canonical table atomically (meta: data fingerprint + report), or nothing.

Speed (2 shared CPUs, 305,613 synthetic posts, no images): validate 19 s, convert 17 s,
peak RSS 1.0 GB; JSON decoding is ~2 s of it, the pandas column work and checks the rest.
The duplicate-key hook (``object_pairs_hook``) about doubles the decoding time, and the
per-record key check adds ~0.3 s per file (measured on one 305k-record user file, loaded CPUs).
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

from ..core.io import fingerprint_frame, write_parquet
from .schema import CANONICAL_COLUMNS, LABEL_RANGE, RAW_FIELD_TYPES, RAW_FILES

__all__ = ["SMPDFormatError", "read_split", "read_smpd", "data_fingerprint", "write_canonical",
           "summary", "main", "image_path", "image_path_problem", "image_problems"]

JSON_KEYS = ("category", "text", "user", "additional", "temporalspatial")
TZ_KEYS = ("timezone_id", "timezone_timezone_id")
REQUIRED_COLUMNS = {k: [c for c in fields if c not in TZ_KEYS] for k, fields in RAW_FIELD_TYPES.items()}
# Cell values that mean "unknown" in numeric/date fields.
NULL_TOKENS = ("", "None", "none", "null", "NULL", "NaN", "nan", "0000-00-00 00:00:00")
MAX_LISTED = 5          # offending rows listed per problem kind (the rest are counted)
MAX_REPORTED_PIDS = 50  # dropped Pids kept in the report
# Measured (2 CPUs, warm page cache, 20k JPEGs): 1 thread 25k img/s (8x8) / 16k img/s
# (640x480); 4-16 threads were slower (6-11k img/s, GIL-bound). Raise for cold network disks.
IMAGE_THREADS = 1
INT64_MAX = np.iinfo(np.int64).max
ESCAPES_ROOT = "image path resolves outside the data root"  # an error even when lenient
# Plausible window of upload dates (Postdate, photo_firstdate): first and last calendar day,
# UTC, inclusive (proposed knob data.date_window). Flickr opened in 2004 and SMPD's posts are
# from 2015-2016; SMPD-Sim's users' first uploads go back to 2003.
DATE_WINDOW = ("2000-01-01", "2030-12-31")
# Camera dates (photo_firstdatetaken) may predate Flickr (scanned photos): from here to the end
# of DATE_WINDOW. Outside their window the optional user dates read as unknown (counted).
CAMERA_DATES_FROM = "1900-01-01"
# Largest image (width x height) the reader accepts (proposed knob data.max_image_pixels):
# PIL's own decompression-bomb threshold (Image.MAX_IMAGE_PIXELS' default, ~9459 x 9459).
MAX_IMAGE_PIXELS = 89_478_485


class _NonFinite:
    """A JSON literal NaN / Infinity / -Infinity (not JSON, but Python's decoder accepts it):
    kept as a marker so the field check names the row."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


class _DupRecord(dict):
    """A JSON object that stated a key twice (``dups``: those keys; the last value kept)."""

    dups: tuple = ()


def _pairs(pairs):
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    out = _DupRecord(d)
    seen, dups = set(), []
    for k, _ in pairs:
        if k in seen and k not in dups:
            dups.append(k)
        seen.add(k)
    out.dups = tuple(dups)
    return out


_JSON_TYPE = {str: "string", int: "number", float: "number", bool: "boolean", dict: "object",
              list: "array", type(None): "null", _NonFinite: "non-finite number",
              _DupRecord: "object"}


class SMPDFormatError(ValueError):
    """Invalid SMPD input. ``problems`` holds one line per problem; each names the file,
    the row or Pid, and what is wrong."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = self.problems[:40]
        more = len(self.problems) - len(lines)
        text = lines[0] if len(self.problems) == 1 else \
            f"{len(self.problems)} problems in the SMPD files:\n" + "\n".join(f"  - {p}" for p in lines)
        text += f"\n  ... and {more} more" if more > 0 else ""
        # printable whatever the input held (lone surrogates would break print/stderr)
        super().__init__(text.encode("utf-8", "backslashreplace").decode("utf-8"))


# ----------------------------------------------------------------------------- file level
def split_files(root, split: str) -> dict[str, Path]:
    """Paths of the seven official files of ``split`` under ``root`` (keys of RAW_FILES)."""
    return {k: Path(root) / v.format(split=split) for k, v in RAW_FILES.items()}


def _read_text(path: Path) -> tuple[str, bool]:
    """The file as text, and whether it held bytes that are not UTF-8. Such bytes are kept
    as lone surrogates U+DC80..U+DCFF (``surrogateescape``) so that the row holding them
    can be named later; a leading byte-order mark is dropped."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SMPDFormatError(f"{path}: unreadable ({type(e).__name__}: {e})") from e
    try:
        text, bad_bytes = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad_bytes = raw.decode("utf-8", "surrogateescape"), True
    return text.removeprefix("\ufeff"), bad_bytes


def _load_json(path: Path) -> tuple[pd.DataFrame, str, bool, list]:
    """One JSON file as a DataFrame in file row order, its layout (records|columns), whether
    the file held bytes that are not UTF-8 (see :func:`_read_text`), and its record-level
    problems ``[(row, what)]``: a key stated twice in one record, a record lacking a key the
    file needs (both layouts), checked by :func:`_record_problems`."""
    text, bad_bytes = _read_text(path)
    try:
        obj = json.loads(text, object_pairs_hook=_pairs, parse_constant=_NonFinite)
    except json.JSONDecodeError as e:
        raise SMPDFormatError(f"{path}: malformed JSON at line {e.lineno} column {e.colno} "
                              f"(char {e.pos}): {e.msg}") from e
    except RecursionError as e:
        raise SMPDFormatError(f"{path}: JSON nested too deeply") from e
    if isinstance(obj, list):
        bad = next((i for i, r in enumerate(obj) if not isinstance(r, dict)), None)
        if bad is not None:
            raise SMPDFormatError(f"{path}: row {bad}: expected a JSON object (record), "
                                  f"got {type(obj[bad]).__name__}")
        # object columns: values stay the Python objects JSON gave (types checked later;
        # no conversion to Arrow strings, which would fail on unencodable text)
        df, layout = pd.DataFrame(obj, dtype=object), "records"
    elif isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
        if isinstance(obj, _DupRecord):
            raise SMPDFormatError(f"{path}: column-oriented file states column(s) "
                                  f"{list(obj.dups)} twice")
        df, layout = pd.DataFrame(obj, dtype=object), "columns"
        keys = [str(k) for k in df.index]
        ok = np.array([k.isascii() and k.isdigit() and len(k) < 19 for k in keys], dtype=bool)
        order = np.array([int(k) if good else -1 for k, good in zip(keys, ok)], dtype=np.int64)
        if not np.array_equal(np.sort(order), np.arange(len(df))):
            bad = [k for k, good in zip(keys, ok) if not good][:MAX_LISTED]
            raise SMPDFormatError(
                f"{path}: column-oriented file needs row keys '0'..'{len(df) - 1}'"
                + (f"; found non-integer keys {bad}" if bad else "; keys have gaps or repeats"))
        df = df.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    else:
        raise SMPDFormatError(f"{path}: expected a list of records or a column-oriented object "
                              f"{{column: {{row: value}}}}, got {type(obj).__name__}")
    if len(df) == 0:
        raise SMPDFormatError(f"{path}: no rows")
    return df, layout, bad_bytes, obj


def _record_problems(key: str, obj, layout: str, n: int) -> list[tuple[int, str]]:
    """``[(row, what)]`` of records that state a key twice or lack a key of
    ``REQUIRED_COLUMNS[key]`` (the user file: also both timezone keys). ``obj``: the decoded
    file (a list of records, or ``{column: {row: value}}``)."""
    need = set(REQUIRED_COLUMNS[key])
    tz = set(TZ_KEYS) if key == "user" else set()
    out = []
    if layout == "records":
        for i, rec in enumerate(obj):
            if type(rec) is _DupRecord:
                out.append((i, f"key(s) {list(rec.dups)} stated twice in one record"))
            if not need.issubset(rec.keys()):
                out.append((i, f"record lacks key(s) {sorted(need - rec.keys())}"))
            if tz and tz.isdisjoint(rec.keys()):
                out.append((i, "record lacks key 'timezone_id' (or 'timezone_timezone_id')"))
        return out
    have_tz = set()
    for col, rows in obj.items():
        if type(rows) is _DupRecord:
            out += [(int(r) if str(r).isdigit() else -1, f"column {col!r} states this row twice")
                    for r in rows.dups]
        if col in need and len(rows) < n:
            present = {str(r) for r in rows}
            out += [(i, f"column {col!r} lacks this row") for i in range(n) if str(i) not in present]
        if col in tz:
            have_tz |= {str(r) for r in rows}
    if tz and any(c in obj for c in tz) and len(have_tz) < n:
        out += [(i, "no timezone_id (or timezone_timezone_id) for this row") for i in range(n)
                if str(i) not in have_tz]
    return out


def _read_lines(path: Path) -> tuple[list[str], bool]:
    """Lines of a text file (LF or CRLF), trailing blank lines dropped, and whether the file
    held bytes that are not UTF-8 (see :func:`_read_text`)."""
    text, bad_bytes = _read_text(path)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines, bad_bytes


# ----------------------------------------------------------------------------- JSON types
def _json_types(s: pd.Series) -> np.ndarray:
    """JSON type name (string/number/boolean/object/array/null) of every cell; NaN (a key
    absent from a record) counts as null."""
    kind = s.dtype.kind
    if kind == "b":
        return np.full(len(s), "boolean", dtype=object)
    if kind in "iuf":
        out = np.full(len(s), "number", dtype=object)
        if kind == "f":
            x = s.to_numpy(dtype=float)
            out[np.isinf(x)] = "non-finite number"
            out[np.isnan(x)] = "null"
        return out
    if pd.api.types.infer_dtype(s, skipna=False) == "string":  # fast path: str (and None)
        return np.where(s.isna().to_numpy(), "null", "string").astype(object)
    vals = s.to_numpy(dtype=object)
    out = np.array([_JSON_TYPE.get(type(v), type(v).__name__) for v in vals], dtype=object)
    out[(out == "number") & pd.isna(pd.Series(vals, dtype=object)).to_numpy()] = "null"
    # a number beyond float range (1e999) decodes to inf: as unusable as a literal Infinity
    num = np.flatnonzero(out == "number")
    inf = [i for i in num if type(vals[i]) is float and np.isinf(vals[i])]
    out[inf] = "non-finite number"
    return out


def _preview(v) -> str:
    if isinstance(v, _NonFinite):
        return v.text
    text = json.dumps(v, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _pid_labels(s: pd.Series) -> np.ndarray:
    """Each row's Pid as text for messages ('' when it is not a plain string/number)."""
    return np.array([str(v).strip() if type(v) in (str, int) or isinstance(v, np.integer) else ""
                     for v in s.to_numpy(dtype=object)], dtype=object)


def _bad_char(text: str, bad_bytes: bool) -> str | None:
    """What makes ``text`` unencodable as UTF-8 (None when it is fine)."""
    for k, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            if bad_bytes and ch >= "\udc80" and ch <= "\udcff":
                return f"byte 0x{ord(ch) - 0xDC00:02X} that is not valid UTF-8 at character {k}"
            return f"lone surrogate \\u{ord(ch):04x} (not encodable as UTF-8) at character {k}"
    return None


def _unencodable(values, bad_bytes: bool) -> list[str | None]:
    """:func:`_bad_char` of every string in ``values`` (fast path when all are fine)."""
    try:
        try:
            "".join(values).encode("utf-8")                  # all str: one pass
        except TypeError:                                    # some numbers/nulls too
            "".join(v for v in values if type(v) is str).encode("utf-8")
        return [None] * len(values)
    except UnicodeEncodeError:
        return [_bad_char(v, bad_bytes) if type(v) is str else None for v in values]


def _check_fields(key: str, df: pd.DataFrame, path: Path, bad_bytes: bool,
                  probs: "_Problems") -> None:
    """Every field of ``schema.RAW_FIELD_TYPES[key]`` holds an allowed JSON type and only
    text that UTF-8 can encode."""
    pids = _pid_labels(df["Pid"])
    for col, allowed in RAW_FIELD_TYPES[key].items():
        if col not in df.columns:
            continue
        got = _json_types(df[col])
        bad = ~np.isin(got, allowed)
        want = " or ".join(a for a in allowed if a != "null")
        vals = df[col].to_numpy(dtype=object)
        probs.add(path, bad, pids, lambda i, col=col, want=want, got=got, vals=vals:
                  f"field {col}: expected a JSON {want}, got {got[i]} {_preview(vals[i])}")
        if (got == "string").any():
            why = _unencodable(vals, bad_bytes)
            probs.add(path, [w is not None for w in why], pids,
                      lambda i, col=col, why=why: f"field {col}: {why[i]}")


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

    def add_rows(self, path: Path, rows, pids, whats) -> None:
        """Like :meth:`add` for problems already listed as rows with their own texts."""
        rows = list(rows)
        for i, pid, what in list(zip(rows, pids, whats))[:MAX_LISTED * 4]:
            where = f"row {i}" if i >= 0 else "a row"
            where += f" (Pid {pid})" if pid not in (None, "") else ""
            self.lines.append(f"{path}: {where}: {what}")
        if len(rows) > MAX_LISTED * 4:
            self.lines.append(f"{path}: ... {len(rows) - MAX_LISTED * 4} more record problems")

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
    digits = txt.str.replace(r"\.0+$", "", regex=True).str.lstrip("0").where(ok, "")
    width = digits.str.len().to_numpy(dtype=np.int64)
    big = ok & ((width > 19) | ((width == 19) & (digits > str(INT64_MAX)).to_numpy(dtype=bool)))
    probs.add(path, big, None, lambda i: f"{col} {txt.iloc[i]} is beyond the int64 range "
                                         f"(max {INT64_MAX})")
    digits = digits.where(ok & ~big, "-1").replace("", "0")
    return pd.to_numeric(digits.astype(object)).to_numpy(dtype=np.int64)


def _ints(s, path, col, pids, probs) -> pd.Series:
    txt = _text(s)
    bools = txt.str.strip().str.lower().map({"true": "1", "false": "0"})
    num, bad, _ = _numbers(bools.fillna(txt))
    bad |= ~np.isnan(num) & (np.mod(num, 1) != 0)
    big = ~bad & ~np.isnan(num) & (np.abs(num) >= 2.0 ** 63)
    probs.add(path, bad, pids, lambda i: f"{col} {txt.iloc[i]!r} is not an integer")
    probs.add(path, big, pids, lambda i: f"{col} {txt.iloc[i]} is beyond the int64 range")
    bad |= big
    return pd.Series(np.where(bad, np.nan, num)).astype("Int64")


def _coords(s, path, col, pids, probs, limit) -> np.ndarray:
    num, bad, txt = _numbers(s)
    out_of_range = ~np.isnan(num) & (np.abs(num) > limit)
    probs.add(path, bad, pids, lambda i: f"{col} {txt.iloc[i]!r} is not a number")
    probs.add(path, out_of_range, pids, lambda i: f"{col} {num[i]} outside [-{limit}, {limit}]")
    return np.where(bad | out_of_range | (num == 0), np.nan, num)  # '0' = no geotag


def date_bounds(window=DATE_WINDOW) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(first, last)`` instants of a ``(first_day, last_day)`` window (or ``"a,b"``), UTC,
    last day included. Raises ValueError naming the knob on a malformed window."""
    parts = [x.strip() for x in window.split(",")] if isinstance(window, str) else list(window)
    try:
        lo, hi = (pd.Timestamp(x, tz="UTC") for x in parts)
    except (ValueError, TypeError) as e:
        raise ValueError(f"data.date_window: expected 'YYYY-MM-DD,YYYY-MM-DD', got {window!r}") from e
    hi = hi.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    if not lo < hi:
        raise ValueError(f"data.date_window: the first day must precede the last, got {window!r}")
    return lo, hi


def _dates(s, path, col, pids, probs, *, required: bool, allow_text: bool = False,
           window=DATE_WINDOW, outside: str = "error") -> tuple[pd.Series, int]:
    """Unix seconds (or, with ``allow_text``, ISO date strings read as UTC) -> UTC datetimes,
    and the number of values outside ``window`` (:func:`date_bounds`). Outside it a value is
    an error (``outside="error"``) or read as unknown (``"unknown"``: counted, not refused).
    Parsed at microsecond resolution and bounded before the nanosecond cast, so no value
    overflows (pandas' ns range is 1677-2262)."""
    lo, hi = date_bounds(window)
    num, _, txt = _numbers(s)
    null = _nulls(txt)
    as_num = ~np.isnan(num)
    lo_s, hi_s = lo.timestamp(), hi.timestamp()
    num_in = as_num & (num >= lo_s) & (num <= hi_s)
    dt = pd.to_datetime(pd.Series(np.where(num_in, num, np.nan)), unit="s", utc=True,
                        errors="coerce")
    parsed = as_num.copy()             # a value that is a date (in the window or not)
    beyond = as_num & ~num_in
    if allow_text:
        text = np.flatnonzero(~as_num & ~null)
        when = _text_dates(txt.iloc[text])
        ok = when.notna().to_numpy()
        parsed[text[ok]] = True
        inside = ok & (when >= lo).to_numpy() & (when <= hi).to_numpy()
        beyond[text[ok & ~inside]] = True
        if inside.any():
            dt = dt.astype("datetime64[us, UTC]")
            dt.iloc[text[inside]] = when[inside].to_numpy()
    dt = dt.astype("datetime64[ns, UTC]")
    probs.add(path, ~null & ~parsed, pids, lambda i: f"unparsable date in {col}: {txt.iloc[i]!r}")
    if outside == "error":
        probs.add(path, beyond, pids,
                  lambda i: f"{col} {txt.iloc[i]!r} is outside the plausible window "
                            f"{lo.date()}..{hi.date()} (data.date_window)")
    if required:
        probs.add(path, null, pids, lambda i: f"{col} is empty")
    return dt, int(beyond.sum())


def _text_dates(txt: pd.Series) -> pd.Series:
    """ISO date strings -> UTC timestamps at microsecond resolution (NaT when unparsable;
    years 1..9999 fit, so no overflow)."""
    if txt.empty:
        return pd.Series([], dtype="datetime64[us, UTC]")
    vals = txt.astype(object).to_numpy()
    try:
        out = pd.to_datetime(pd.Series(vals), format="ISO8601", utc=True, errors="coerce")
        return out.astype("datetime64[us, UTC]").reset_index(drop=True)
    except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError):
        pass
    one = []                          # one value at a time: an odd value cannot sink the rest
    for v in vals:
        try:
            t = pd.Timestamp(v)
            t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
            one.append(t.as_unit("us"))
        except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError, TypeError):
            one.append(pd.NaT)
    return pd.Series(one, dtype="datetime64[us, UTC]")


def _labels(lines: list[str], path: Path, pids, probs) -> np.ndarray:
    txt = pd.Series([x.strip() for x in lines], dtype=object)  # object: may hold bad text
    num = pd.to_numeric(txt.astype(object), errors="coerce").to_numpy(dtype=float)
    said_nan = txt.str.lower().isin(["nan", "-nan", "+nan"]).to_numpy(dtype=bool)
    bad_text = np.array([_bad_char(x, True) is not None for x in txt], dtype=bool)
    empty = (txt == "").to_numpy(dtype=bool)
    lo, hi = LABEL_RANGE
    probs.add(path, empty, pids, lambda i: f"line {i + 1}: label is empty")
    probs.add(path, said_nan, pids, lambda i: f"line {i + 1}: label is NaN")
    probs.add(path, bad_text, pids, lambda i: f"line {i + 1}: label {txt.iloc[i]!r}: "
                                              f"{_bad_char(txt.iloc[i], True)}")
    probs.add(path, np.isnan(num) & ~said_nan & ~empty & ~bad_text, pids,
              lambda i: f"line {i + 1}: label {txt.iloc[i]!r} is not a number")
    probs.add(path, ~np.isnan(num) & ((num < lo) | (num > hi)), pids,
              lambda i: f"line {i + 1}: label {num[i]} outside LABEL_RANGE [{lo}, {hi}]")
    return num


# ----------------------------------------------------------------------------- images
def image_path_problem(rel: str) -> str | None:
    """What makes ``rel`` (a line of ``{split}_img_filepath.txt``) unsafe as a path under
    the data root, judged on the text alone: empty, absolute, with a '..' component, or
    holding a NUL / undecodable character. None when it is fine."""
    if rel == "":
        return "empty image path"
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":" and rel[0].isalpha()):
        return f"absolute image path {rel!r} (paths must be relative to the data root)"
    if ".." in rel.replace("\\", "/").split("/"):
        return f"image path {rel!r} leaves the data root through '..'"
    if "\x00" in rel:
        return f"image path {rel!r} holds a NUL character"
    why = _bad_char(rel, True)
    return f"image path {rel!r}: {why}" if why else None


def image_path(root, rel: str) -> Path:
    """``ROOT/<rel>`` after checking that it stays under ROOT (text and symlinks); raises
    :class:`SMPDFormatError` otherwise. Stages that open images should use this."""
    why = image_path_problem(rel) or _escapes(Path(root), Path(root) / rel)
    if why:
        raise SMPDFormatError(f"{root}: {why}")
    return Path(root) / rel


def _escapes(root: Path, path: Path, real_root: str | None = None) -> str | None:
    """Problem when ``path`` resolves (following symlinks) to a place outside ``root``."""
    real_root = real_root or os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        return f"{ESCAPES_ROOT} (to {real}, through a symlink)"
    return None


def _image_problem(path: Path, decode: bool = False, real_root: str | None = None,
                   max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """None when ``path`` is an image PIL can identify (``decode``: and fully decode) within
    ``max_pixels`` (width x height, from the header: nothing is decoded first), else what is
    wrong; with ``real_root``, a path resolving outside it is a problem too."""
    if real_root is not None:
        why = _escapes(Path(real_root), path, real_root)
        if why:
            return why
    if not path.is_file():
        return "missing image"
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                return _too_big(w, h, max_pixels)
            if decode:
                im.load()    # decodes every pixel: a truncated or corrupt body fails here
            else:
                im.verify()  # header (and for PNG the chunk CRCs); a truncated JPEG passes
    except Image.DecompressionBombError as e:   # > 2x PIL's own limit: refused inside open()
        return f"image beyond the pixel budget data.max_image_pixels = {max_pixels:,} ({e})"
    except Exception as e:  # PIL raises many types for bad files
        return f"unreadable image ({type(e).__name__}: {e})"
    return None


def _too_big(w: int, h: int, max_pixels: int) -> str:
    return (f"image of {w} x {h} = {w * h:,} pixels exceeds the pixel budget "
            f"data.max_image_pixels = {max_pixels:,} (a possible decompression bomb)")


def image_problems(root, img_paths, threads: int = IMAGE_THREADS, decode: bool = False,
                   max_pixels: int = MAX_IMAGE_PIXELS) -> list[str | None]:
    """:func:`_image_problem` for every ``ROOT/<img_path>`` (file order kept; a thread pool when
    ``threads > 1``), including that it does not resolve outside ROOT. PIL's
    DecompressionBombWarning is silenced here: the pixel budget decides, naming the file."""
    root = Path(root)
    real_root = os.path.realpath(root)
    paths = [root / p for p in img_paths]

    def one(p):
        return _image_problem(p, decode, real_root, max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if threads <= 1 or len(paths) < 256:
            return [one(p) for p in paths]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(one, paths, chunksize=256))


# ----------------------------------------------------------------------------- one split
def read_split(root, split: str, *, lenient: bool = False, check_images: bool = True,
               decode_images: bool = False, date_window=DATE_WINDOW,
               max_image_pixels: int = MAX_IMAGE_PIXELS) -> tuple[pd.DataFrame, dict]:
    """Canonical table (``schema.CANONICAL_COLUMNS``) of one split, in file row order, and a
    report ``{split, posts, users, labelled, dropped_images, dropped_pids, layouts, tz_key,
    images_checked, images_decoded, img_name_mismatch}`` (plus ``dates_outside_window`` when
    optional user dates were read as unknown). Raises :class:`SMPDFormatError` on invalid
    input; ``lenient`` drops posts whose image is missing/unreadable instead;
    ``decode_images`` decodes every image fully (catches truncated bodies; slower);
    ``date_window``: plausible (first, last) day of upload dates (``DATE_WINDOW``);
    ``max_image_pixels``: largest width x height accepted (``MAX_IMAGE_PIXELS``)."""
    root = Path(root)
    date_bounds(date_window)                       # a malformed window fails before reading
    files = _present_files(root, split)
    tables, layouts, tz_key = _read_tables(files)
    img_lines, label_lines, n = _read_line_files(files, tables)
    probs = _Problems()
    pid, uid, pid_txt = _joined_ids(tables, files, probs)
    out = pd.DataFrame({"Pid": pid, "Uid": uid})
    outside = _table_columns(out, tables, files, tz_key, pid_txt, probs, date_window)
    img = _image_paths(img_lines, files["img_filepath"], pid_txt, probs)
    out["img_path"] = img
    out["label"] = (_labels(label_lines, files["label"], pid_txt, probs) if label_lines is not None
                    else np.full(n, np.nan))
    out["source_split"] = split
    probs.raise_if_any()
    name_mismatch = _name_mismatches(img, pid_txt)
    dropped: list[int] = []
    if check_images:
        out, dropped = _checked_images(root, split, out, img, pid, pid_txt, files["img_filepath"],
                                       probs, lenient, decode_images, max_image_pixels)
    out = _canonical(out)
    report = {
        "split": split, "posts": int(len(out)), "users": int(out["Uid"].nunique()),
        "labelled": int(out["label"].notna().sum()),
        "dropped_images": len(dropped), "dropped_pids": dropped[:MAX_REPORTED_PIDS],
        "images_checked": bool(check_images), "images_decoded": bool(check_images and decode_images),
        "img_name_mismatch": name_mismatch,
        "layouts": layouts, "tz_key": tz_key,
    }
    if any(outside.values()):
        report["dates_outside_window"] = {k: v for k, v in outside.items() if v}
    return out, report


def _present_files(root: Path, split: str) -> dict[str, Path]:
    """The split's files (:func:`split_files`); every one required except test labels."""
    files = split_files(root, split)
    label_required = split == "train"
    missing = [p for k, p in files.items() if not p.is_file() and (k != "label" or label_required)]
    if missing:
        raise SMPDFormatError([f"{p}: missing file (required for split '{split}')" for p in missing])
    return files


def _read_tables(files: dict[str, Path]) -> tuple[dict, dict, str]:
    """The five JSON files as DataFrames (``JSON_KEYS``), their layouts and the user file's
    timezone key; refuses missing columns, records that
    state a key twice or lack one, and fields of the wrong JSON type (non-finite numbers
    included), naming file, row/Pid and field."""
    tables, layouts, bad_bytes, decoded = {}, {}, {}, {}
    for key in JSON_KEYS:
        tables[key], layouts[files[key].name], bad_bytes[key], decoded[key] = _load_json(files[key])
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
    probs = _Problems()
    for key in JSON_KEYS:
        found = _record_problems(key, decoded[key], layouts[files[key].name], len(tables[key]))
        if found:
            pids = _pid_labels(tables[key]["Pid"])
            rows = np.array([r for r, _ in found])
            what = [w for _, w in found]
            pids = np.array([pids[r] if 0 <= r < len(pids) else "" for r in rows], dtype=object)
            probs.add_rows(files[key], rows, pids, what)
    probs.raise_if_any()
    for key in JSON_KEYS:
        _check_fields(key, tables[key], files[key], bad_bytes[key], probs)
    probs.raise_if_any()
    return tables, layouts, tz_key


def _read_line_files(files: dict[str, Path], tables: dict) -> tuple[list[str], list[str] | None, int]:
    """Image-path lines, label lines (None without a label file) and the row count, which
    every file must share (row-aligned)."""
    img_lines, _ = _read_lines(files["img_filepath"])
    label_lines = _read_lines(files["label"])[0] if files["label"].is_file() else None
    counts = {files[k]: len(t) for k, t in tables.items()}
    counts[files["img_filepath"]] = len(img_lines)
    if label_lines is not None:
        counts[files["label"]] = len(label_lines)
    ref = files["category"]
    n = counts[ref]
    if any(c != n for c in counts.values()):
        raise SMPDFormatError([f"{p}: {c} rows, but {ref.name} has {n} (files must be row-aligned)"
                               for p, c in counts.items() if c != n])
    return img_lines, label_lines, n


def _joined_ids(tables: dict, files: dict, probs: "_Problems") -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Pid (int64), Uid and Pid-as-text of each row: parsed, then every file must agree with
    the category file row by row; empty Uids and duplicate Pids are refused."""
    ids = {k: _parse_ids(t["Pid"], files[k], "Pid", probs) for k, t in tables.items()}
    probs.raise_if_any()
    ref = files["category"]
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
    return pid, uid, pid_txt


def _table_columns(out: pd.DataFrame, tables: dict, F: dict, tz_key: str, pid_txt, probs,
                   date_window) -> dict[str, int]:
    """Fill ``out`` with the typed columns of the five JSON files (problems collected in
    ``probs``); returns how many optional user dates were outside their window per field."""
    cat, txt, ts = tables["category"], tables["text"], tables["temporalspatial"]
    add, usr = tables["additional"], tables["user"]
    out["category"] = _text(cat["Category"]).str.strip()
    out["subcategory"] = _text(cat["Subcategory"]).str.replace(",", " ", regex=False).str.strip()
    for col in ("category", "subcategory"):
        probs.add(F["category"], out[col].fillna("").eq("").to_numpy(), pid_txt,
                  lambda i, col=col: f"{col.capitalize()} is empty")
    out["concept"] = _text(cat["Concept"]).fillna("")
    out["title"] = _text(txt["Title"]).fillna("")
    out["tags"] = _text(txt["Alltags"]).fillna("").str.strip()
    out["mediatype"] = _text(txt["Mediatype"])
    out["postdate"], _ = _dates(ts["Postdate"], F["temporalspatial"], "Postdate", pid_txt, probs,
                                required=True, window=date_window)
    out["latitude"] = _coords(ts["Latitude"], F["temporalspatial"], "Latitude", pid_txt, probs, 90)
    out["longitude"] = _coords(ts["Longitude"], F["temporalspatial"], "Longitude", pid_txt, probs, 180)
    out["geoaccuracy"] = _ints(ts["Geoaccuracy"], F["temporalspatial"], "Geoaccuracy", pid_txt, probs)
    pathalias = _text(add["Pathalias"])
    out["pathalias"] = pathalias.mask(_nulls(pathalias))
    out["ispublic"] = _ints(add["Ispublic"], F["additional"], "Ispublic", pid_txt, probs)
    out["mediastatus"] = _text(add["Mediastatus"])
    # optional user-profile dates: outside their window they read as unknown (sentinel values
    # such as 1000-01-01 / 9999-12-31 occur in real Flickr profiles), counted in the report
    lo, hi = date_bounds(date_window)
    camera = (CAMERA_DATES_FROM, str(hi.date()))
    outside = {}
    out["photo_firstdate"], outside["photo_firstdate"] = _dates(
        usr["photo_firstdate"], F["user"], "photo_firstdate", pid_txt, probs, required=False,
        window=date_window, outside="unknown")
    out["photo_firstdatetaken"], outside["photo_firstdatetaken"] = _dates(
        usr["photo_firstdatetaken"], F["user"], "photo_firstdatetaken", pid_txt, probs,
        required=False, allow_text=True, window=camera, outside="unknown")
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
    if any(outside.values()):
        warnings.warn(f"{F['user']}: read as unknown (outside the plausible window) "
                      + ", ".join(f"{v} {k}" for k, v in outside.items() if v), stacklevel=3)
    return outside


def _image_paths(img_lines: list[str], path: Path, pid_txt, probs) -> pd.Series:
    """The image-path lines (object dtype: they may hold undecodable text), each checked on
    its text (:func:`image_path_problem`)."""
    img = pd.Series([x.strip() for x in img_lines], dtype=object)
    path_why = [image_path_problem(p) for p in img.tolist()]
    probs.add(path, [w is not None for w in path_why], pid_txt, lambda i: path_why[i])
    return img


def _name_mismatches(img: pd.Series, pid_txt) -> int:
    """Image file names are '<Pid>.jpg' in the official layout: count (not fail) deviations."""
    stems = img.str.rsplit("/", n=1).str[-1].str.rsplit(".", n=1).str[0]
    return int((stems.str.fullmatch(r"\d+") & (stems != pid_txt)).sum())


def _checked_images(root: Path, split: str, out: pd.DataFrame, img: pd.Series, pid, pid_txt,
                    path: Path, probs, lenient: bool, decode: bool,
                    max_pixels: int) -> tuple[pd.DataFrame, list[int]]:
    """Every image opened (:func:`image_problems`): a path escaping the root is always an
    error; a missing/unreadable/oversized image is an error, or with ``lenient`` its post is
    dropped (warned and returned)."""
    found = image_problems(root, img.tolist(), decode=decode, max_pixels=max_pixels)
    bad = np.array([p is not None for p in found])
    escaped = np.array([p is not None and p.startswith(ESCAPES_ROOT) for p in found])
    probs.add(path, escaped, pid_txt, lambda i: f"{found[i]}: {img.iloc[i]}")
    probs.raise_if_any()
    if not bad.any():
        return out, []
    if not lenient:
        probs.add(path, bad, pid_txt, lambda i: f"{found[i]} at {root / img.iloc[i]}")
        probs.raise_if_any()
    dropped = pid[bad].tolist()
    warnings.warn(f"{path}: dropped {len(dropped)} post(s) of split '{split}' "
                  f"with a missing/unreadable image, e.g. Pid {dropped[:5]} "
                  f"({found[int(np.flatnonzero(bad)[0])]})", stacklevel=3)
    return out[~bad].reset_index(drop=True), dropped


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    return df[list(CANONICAL_COLUMNS)].astype(CANONICAL_COLUMNS).reset_index(drop=True)


# ----------------------------------------------------------------------------- both splits
def read_smpd(root, *, splits=("train", "test"), lenient: bool = False,
              check_images: bool = True, decode_images: bool = False, date_window=DATE_WINDOW,
              max_image_pixels: int = MAX_IMAGE_PIXELS) -> tuple[pd.DataFrame, dict]:
    """Canonical table of all ``splits`` (train required; another split is skipped when none
    of its files exist), rows in file order, train first. Report: ``{posts, users, labelled,
    dropped_images, splits_read, lenient, splits: {split: read_split report}}``. The other
    arguments: :func:`read_split`'s."""
    root = Path(root)
    frames, reports = [], {}
    for split in splits:
        if split != "train" and not any(p.exists() for p in split_files(root, split).values()):
            continue
        part, reports[split] = read_split(root, split, lenient=lenient, check_images=check_images,
                                          decode_images=decode_images, date_window=date_window,
                                          max_image_pixels=max_image_pixels)
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
    """Fingerprint of the canonical table's CONTENT: :func:`core.io.fingerprint_frame` of the
    ``schema.CANONICAL_COLUMNS`` that ``df`` has (in schema order; other columns, such as
    the ``split`` of ``load_posts``, are ignored), rows in Pid order, so it changes when any
    value changes (a label, a title...) but not when the rows are only reordered."""
    cols = [c for c in CANONICAL_COLUMNS if c in df.columns]
    if "Pid" in df.columns:
        df = df.iloc[np.argsort(df["Pid"].to_numpy(), kind="stable")]
    return fingerprint_frame(df, cols)


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
        p.add_argument("--decode-images", action="store_true",
                       help="decode every image fully (catches truncated files; slower)")
        p.add_argument("--date-window", default=",".join(DATE_WINDOW),
                       help="plausible first,last day of upload dates (default %(default)s)")
        p.add_argument("--max-image-pixels", type=int, default=MAX_IMAGE_PIXELS,
                       help="largest width x height accepted (default %(default)s)")
    args = ap.parse_args(argv)
    opts = dict(lenient=args.lenient, check_images=args.images, decode_images=args.decode_images,
                date_window=args.date_window, max_image_pixels=args.max_image_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            if args.cmd == "validate" and args.split:
                df, report = read_split(args.root, args.split, **opts)
            else:
                df, report = read_smpd(args.root, **opts)
            if args.cmd == "convert":
                write_canonical(df, args.out, report)
    except (SMPDFormatError, ValueError) as e:     # ValueError: a malformed --date-window
        print(f"INVALID: {e}", file=sys.stderr)
        return 1
    print(summary(df) + (f" -> {os.fspath(args.out)}" if args.cmd == "convert" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
