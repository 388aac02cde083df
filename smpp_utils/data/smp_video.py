"""Reader of the official SMP-Video files (SMP Challenge 2025, video track; TikTok posts) into
the study's canonical SMP-Video posts table, both split protocols, and a ``validate`` CLI.

What it reads
    Under a ROOT folder, the JSON-lines files as published (``FILES``): for ``train`` the
    posts, users, videos and popularity files; for ``test`` the posts, users and videos files
    (the challenge's hidden test set has no popularity). Files are NOT row-aligned: they are
    joined on ``pid`` (posts, videos, popularity) and ``uid`` (users). The folder is read in
    place, never copied.

The canonical table (``CANONICAL_COLUMNS``, rows: train posts in file order, then test posts)
    ``Pid`` (int64: the digits of the official id, 'POST00003512' -> 3512), ``pid`` (the
    official id), ``Uid``, ``postdate`` (``post_time`` read as UTC), ``text`` (post_content's
    comma-separated words and the suggested words, space-joined: the text the encoders read),
    ``post_content``, ``suggested_words`` ('; '-joined), ``language``, ``country``,
    ``video_path``, ``vid``, the user statistics (``user_*_count``), the video metadata
    (``video_height`` ... ``music_duration``), ``label`` (popularity; NaN for test posts) and
    ``source_split`` (the file the post came from). Counts are float64 (NaN = null in the file).

Validation (every failure is a :class:`SMPVideoFormatError`; each problem names the file,
the LINE (1-based) and the field): a missing file; bytes that are not UTF-8; a malformed line
(not JSON, not a JSON object); a missing or wrongly typed field (ids must be non-empty
strings, counts numbers or null, ``post_suggested_words`` a list of strings); a duplicate pid
(within a file, and across train/test), two ids with the same digits; a post without a user
row or without a video row; a video / popularity row for a pid that has no post, or whose uid
differs from the post's; a train post without popularity; a popularity that is missing,
non-numeric or not finite; a ``post_time`` that is not 'YYYY-MM-DD HH:MM[:SS]'; two user rows
of one uid that disagree (identical repeats, as in the published test users file, collapse
to one). Nothing is written unless the whole input is valid (atomic writes, ``core.io``).

Splits (``make_splits``; ``data/splits.py`` conventions, reused: ``random_split``,
``chrono_split``, ``split_fingerprint``) over the LABELLED posts (the train files):

* ``random`` - JRPP's protocol: seeded random ``1 - val - test`` : ``val`` : ``test`` (8:1:1).
* ``chrono`` - the challenge's protocol within the train period: the latest ``chrono_test_frac``
  of the labelled posts by post time are test (the official test posts are later still and
  unlabelled); validation is the latest ``chrono_val_frac`` (of all labelled posts) before
  them, so model selection sees the posts nearest in time to the test period; ties by Pid.

CLI
    ``python -m smpp_utils.data.smp_video validate ROOT`` prints a one-line summary and exits
    0, or prints every problem and exits 1. ``... convert ROOT OUT.parquet`` writes the
    canonical table atomically (meta: data fingerprint, per-file sha256, report).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import paths
from ..core.io import FingerprintMismatch, fingerprint_frame, read_parquet, write_parquet
from .splits import SCHEMES, SPLITS, chrono_split, random_split, split_fingerprint

__all__ = ["SMPVideoFormatError", "FILES", "CANONICAL_COLUMNS", "read_smp_video", "data_fingerprint",
           "write_canonical", "make_splits", "prepare", "load_posts", "summary", "file_hashes", "main"]

SOURCE = "smp_video"                          # posts.parquet meta "source"
FILES = {
    ("train", "posts"): "train/SMP-Video_anonymized_posts_train.jsonl",
    ("train", "users"): "train/SMP-Video_anonymized_users_train.jsonl",
    ("train", "videos"): "train/SMP-Video_anonymized_videos_train.jsonl",
    ("train", "popularity"): "train/SMP-Video_anonymized_popularity_train.jsonl",
    ("test", "posts"): "test/SMP-Video_anonymized_posts_test.jsonl",
    ("test", "users"): "test/SMP-Video_anonymized_users_test.jsonl",
    ("test", "videos"): "test/SMP-Video_anonymized_videos_test.jsonl",
}
USER_COUNTS = ("user_following_count", "user_follower_count", "user_likes_count", "user_video_count",
               "user_digg_count", "user_heart_count", "user_friend_count")
VIDEO_NUMBERS = ("video_height", "video_width", "video_duration", "music_duration")
VIDEO_TEXT = ("video_ratio", "video_format", "music_title")
# field -> kind, per file kind: id (non-empty string), str (string or null), number (or null),
# words (list of strings or null), time (post_time), label (finite number, required)
FIELDS = {
    "posts": {"pid": "id", "uid": "id", "post_content": "str", "post_location": "str",
              "post_suggested_words": "words", "post_text_language": "str", "video_path": "str",
              "post_time": "time"},
    "users": {"uid": "id", **{c: "number" for c in USER_COUNTS}},
    "videos": {"vid": "id", "pid": "id", "uid": "id", **{c: "number" for c in VIDEO_NUMBERS},
               **{c: "str" for c in VIDEO_TEXT}},
    "popularity": {"pid": "id", "uid": "id", "popularity": "label"},
}
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
CANONICAL_COLUMNS = {
    "Pid": "int64", "pid": "string", "Uid": "string", "postdate": "datetime64[ns, UTC]",
    "text": "string", "post_content": "string", "suggested_words": "string",
    "language": "string", "country": "string", "video_path": "string", "vid": "string",
    **{c: "float64" for c in USER_COUNTS}, **{c: "float64" for c in VIDEO_NUMBERS},
    **{c: "string" for c in VIDEO_TEXT}, "label": "float64", "source_split": "string",
}
MAX_LISTED = 5                                # problems listed per (file, kind); the rest counted
_PID_DIGITS = re.compile(r"\D*(\d{1,18})")


class SMPVideoFormatError(ValueError):
    """Invalid SMP-Video input. ``problems``: one line per problem, each naming the file, the
    line and the field."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = self.problems[:40]
        text = lines[0] if len(lines) == 1 else \
            f"{len(self.problems)} problems in the SMP-Video files:\n" + "\n".join(f"  - {p}" for p in lines)
        if len(self.problems) > len(lines):
            text += f"\n  ... and {len(self.problems) - len(lines)} more"
        super().__init__(text.encode("utf-8", "backslashreplace").decode("utf-8"))


class _Problems:
    """Collects problem lines; per (file, kind) the first MAX_LISTED are listed, the rest counted."""

    def __init__(self):
        self.lines: list[str] = []
        self._count: dict[tuple, int] = {}

    def add(self, path, line: int | None, what: str, kind: str | None = None) -> None:
        key = (str(path), kind or what)
        n = self._count[key] = self._count.get(key, 0) + 1
        if n <= MAX_LISTED:
            self.lines.append(f"{path}: " + (f"line {line}: " if line is not None else "") + what)

    def raise_if_any(self) -> None:
        more = [f"{p}: ... {n - MAX_LISTED} more lines with the same problem ({k})"
                for (p, k), n in self._count.items() if n > MAX_LISTED]
        if self.lines:
            raise SMPVideoFormatError(self.lines + more)


# ----------------------------------------------------------------------------- file level
def file_paths(root) -> dict[tuple[str, str], Path]:
    return {k: Path(root) / v for k, v in FILES.items()}


def _preview(v) -> str:
    text = json.dumps(v, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def read_jsonl(path: Path, probs: _Problems) -> list[tuple[int, dict]]:
    """(line number, record) of every non-blank line; malformed lines are reported."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        probs.add(path, None, f"unreadable ({type(e).__name__}: {e})")
        return []
    out = []
    for i, b in enumerate(raw.split(b"\n"), start=1):
        if i == 1:
            b = b.removeprefix(b"\xef\xbb\xbf")               # a UTF-8 byte-order mark
        b = b.rstrip(b"\r")
        if not b.strip():
            continue
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError as e:
            probs.add(path, i, f"byte 0x{b[e.start]:02X} at column {e.start + 1} is not valid UTF-8",
                      "not UTF-8")
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            probs.add(path, i, f"malformed JSON at column {e.colno}: {e.msg}", "malformed JSON")
            continue
        if not isinstance(rec, dict):
            probs.add(path, i, f"expected a JSON object, got {type(rec).__name__} {_preview(rec)}",
                      "not an object")
            continue
        out.append((i, rec))
    if not out and not probs.lines:
        probs.add(path, None, "no records (empty file)")
    return out


def _check_value(kind: str, v, path: Path, line: int, field: str, probs: _Problems):
    """The cell's value as the canonical table holds it, or None after reporting a problem
    (``missing`` is a sentinel for an absent key)."""
    absent = v is _MISSING
    if kind == "id":
        if absent or v is None:
            probs.add(path, line, f"field {field}: missing", f"{field} missing")
        elif not isinstance(v, str) or not v.strip():
            probs.add(path, line, f"field {field}: expected a non-empty string id, got {_preview(v)}",
                      f"{field} type")
        else:
            return v.strip()
        return None
    if kind == "str":
        if absent or v is None:
            return ""
        if isinstance(v, str):
            return v
        probs.add(path, line, f"field {field}: expected a string, got {_preview(v)}", f"{field} type")
        return None
    if kind == "words":
        if absent or v is None:
            return []
        if isinstance(v, list) and all(isinstance(w, str) for w in v):
            return v
        probs.add(path, line, f"field {field}: expected a list of strings, got {_preview(v)}",
                  f"{field} type")
        return None
    if kind in ("number", "label"):
        if absent or v is None:
            if kind == "label":
                probs.add(path, line, f"field {field}: missing popularity", "popularity missing")
                return None
            return math.nan
        x = None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            x = float(v)
        elif isinstance(v, str):
            try:
                x = float(v.strip())
            except ValueError:
                x = None
        if x is None or (kind == "label" and not math.isfinite(x)) or (kind == "number" and math.isinf(x)):
            what = "popularity" if kind == "label" else "number"
            probs.add(path, line, f"field {field}: expected a finite {what}, got {_preview(v)}",
                      f"{field} not numeric")
            return None
        return x
    if kind == "time":
        if absent or v is None or not isinstance(v, str):
            probs.add(path, line, f"field {field}: expected a time 'YYYY-MM-DD HH:MM', got "
                      f"{'nothing' if absent else _preview(v)}", f"{field} unparsable")
            return None
        for fmt in TIME_FORMATS:
            try:
                return datetime.strptime(v.strip(), fmt)
            except ValueError:
                pass
        probs.add(path, line, f"field {field}: unparsable time {_preview(v)} (expected "
                  "'YYYY-MM-DD HH:MM')", f"{field} unparsable")
        return None
    raise ValueError(f"unknown field kind {kind!r}")


_MISSING = object()


def _table(path: Path, kind: str, probs: _Problems) -> pd.DataFrame:
    """One file as a frame of checked values plus its ``_line`` numbers; rows with a problem
    are dropped (the problem is reported, so the read fails later)."""
    rows = []
    for line, rec in read_jsonl(path, probs):
        row, ok = {"_line": line}, True
        for field, fkind in FIELDS[kind].items():
            val = _check_value(fkind, rec.get(field, _MISSING), path, line, field, probs)
            ok &= val is not None
            row[field] = val
        if ok:
            rows.append(row)
    cols = ["_line", *FIELDS[kind]]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)


def _duplicates(df: pd.DataFrame, col: str, path: Path, probs: _Problems, what: str = "duplicate") -> None:
    dup = df[df[col].duplicated(keep=False)]
    for value, g in dup.groupby(col, sort=False):
        lines = g["_line"].tolist()
        for line in lines[1:]:
            probs.add(path, line, f"field {col}: {what} {col} {value!r} (also on line {lines[0]})",
                      f"duplicate {col}")


# ----------------------------------------------------------------------------- one split
def _pid_number(pid: str) -> int | None:
    m = _PID_DIGITS.fullmatch(pid)
    return int(m.group(1)) if m else None


def read_split(root, split: str) -> tuple[pd.DataFrame, dict]:
    """Canonical rows of one split (file order of the posts file) and a report."""
    files = {k: p for (s, k), p in file_paths(root).items() if s == split}
    missing = [p for p in files.values() if not p.is_file()]
    if missing:
        raise SMPVideoFormatError([f"{p}: missing file (required for split '{split}')" for p in missing])
    probs = _Problems()
    t = {k: _table(p, k, probs) for k, p in files.items()}
    probs.raise_if_any()
    P, U, V = files["posts"], files["users"], files["videos"]
    posts, users, videos = t["posts"], t["users"], t["videos"]

    _duplicates(posts, "pid", P, probs)
    _duplicates(videos, "pid", V, probs)
    num = posts["pid"].map(_pid_number)
    for line, pid in posts.loc[num.isna(), ["_line", "pid"]].itertuples(index=False):
        probs.add(P, line, f"field pid: {pid!r} does not end in a number (expected e.g. 'POST00000001')",
                  "pid format")
    posts = posts.assign(Pid=num)
    clash = posts[num.notna() & ~posts["pid"].duplicated(keep=False) & num.duplicated(keep=False)]
    for value, g in clash.groupby("Pid", sort=False):
        for line, pid in g[["_line", "pid"]].itertuples(index=False):
            probs.add(P, line, f"field pid: {pid!r} has the same number {int(value)} as "
                      f"{g['pid'].iloc[0]!r} (line {g['_line'].iloc[0]})", "pid number clash")
    # users: identical repeats collapse, conflicting ones are an error
    fields_u = list(FIELDS["users"])
    for uid, g in users[users["uid"].duplicated(keep=False)].groupby("uid", sort=False):
        first = g.iloc[0]
        for _, r in g.iloc[1:].iterrows():
            diff = [c for c in fields_u if not (r[c] == first[c] or (pd.isna(r[c]) and pd.isna(first[c])))]
            if diff:
                probs.add(U, int(r["_line"]), f"field {diff[0]}: user {uid!r} has {r[diff[0]]!r} here "
                          f"but {first[diff[0]]!r} on line {int(first['_line'])}", "conflicting user rows")
    users = users.drop_duplicates("uid", keep="first")

    known_users = set(users["uid"])
    for line, pid, uid in posts.loc[~posts["uid"].isin(known_users), ["_line", "pid", "uid"]].itertuples(index=False):
        probs.add(P, line, f"field uid: post {pid!r} has uid {uid!r}, which has no row in {U.name}",
                  "post without user")
    vid_by_pid = videos.drop_duplicates("pid").set_index("pid")
    for line, pid in posts.loc[~posts["pid"].isin(vid_by_pid.index), ["_line", "pid"]].itertuples(index=False):
        probs.add(P, line, f"field pid: post {pid!r} has no row in {V.name}", "post without video")
    post_uid = posts.drop_duplicates("pid").set_index("pid")["uid"]
    _orphans_and_uids(videos, post_uid, V, P, probs)

    label = pd.Series(np.nan, index=posts.index)
    if "popularity" in files:
        pop = t["popularity"]
        Q = files["popularity"]
        _duplicates(pop, "pid", Q, probs)
        _orphans_and_uids(pop, post_uid, Q, P, probs)
        by_pid = pop.drop_duplicates("pid").set_index("pid")["popularity"]
        for line, pid in posts.loc[~posts["pid"].isin(by_pid.index), ["_line", "pid"]].itertuples(index=False):
            probs.add(P, line, f"field popularity: post {pid!r} has no popularity row in {Q.name}",
                      "popularity missing")
        label = posts["pid"].map(by_pid).astype(float)
    probs.raise_if_any()

    u = users.set_index("uid")
    v = vid_by_pid.reindex(posts["pid"])
    out = pd.DataFrame({"Pid": posts["Pid"].astype(np.int64), "pid": posts["pid"], "Uid": posts["uid"]})
    out["postdate"] = pd.to_datetime(posts["post_time"]).dt.tz_localize("UTC")
    out["text"] = [post_text(c, w) for c, w in zip(posts["post_content"], posts["post_suggested_words"])]
    out["post_content"] = posts["post_content"]
    out["suggested_words"] = ["; ".join(w) for w in posts["post_suggested_words"]]
    out["language"] = posts["post_text_language"]
    out["country"] = posts["post_location"]
    out["video_path"] = posts["video_path"]
    out["vid"] = v["vid"].to_numpy()
    for c in USER_COUNTS:
        out[c] = posts["uid"].map(u[c]).to_numpy(dtype=float)
    for c in (*VIDEO_NUMBERS, *VIDEO_TEXT):
        out[c] = v[c].to_numpy()
    out["label"] = label.to_numpy(dtype=float)
    out["source_split"] = split
    report = {"split": split, "posts": int(len(out)), "users": int(out["Uid"].nunique()),
              "user_rows": int(len(t["users"])), "user_rows_repeated": int(len(t["users"]) - len(users)),
              "labelled": int(out["label"].notna().sum())}
    return _canonical(out), report


def _orphans_and_uids(df: pd.DataFrame, post_uid: pd.Series, path: Path, posts_path: Path,
                      probs: _Problems) -> None:
    """Rows of ``df`` (videos / popularity) whose pid has no post, or whose uid is not the post's."""
    for line, pid in df.loc[~df["pid"].isin(post_uid.index), ["_line", "pid"]].itertuples(index=False):
        probs.add(path, line, f"field pid: {pid!r} has no post in {posts_path.name}", "row without post")
    known = df[df["pid"].isin(post_uid.index)]
    bad = known[known["uid"].to_numpy() != post_uid.reindex(known["pid"]).to_numpy()]
    for line, pid, uid in bad[["_line", "pid", "uid"]].itertuples(index=False):
        probs.add(path, line, f"field uid: {uid!r} for pid {pid!r}, but {posts_path.name} has uid "
                  f"{post_uid[pid]!r}", "uid mismatch")


def post_text(content: str, words) -> str:
    """The text the encoders read: post_content's comma-separated words, then the suggested
    words, space-joined (one space between tokens)."""
    toks = [t.strip() for t in str(content or "").split(",")] + [str(w).strip() for w in (words or [])]
    return " ".join(" ".join(t for t in toks if t).split())


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    return df[list(CANONICAL_COLUMNS)].astype(CANONICAL_COLUMNS).reset_index(drop=True)


# ----------------------------------------------------------------------------- both splits
def read_smp_video(root, splits=("train", "test")) -> tuple[pd.DataFrame, dict]:
    """Canonical table of ``splits`` (train required; test read when any of its files exists,
    then all of them are required) and a report ``{posts, users, labelled, splits: {...}}``."""
    root = Path(root)
    if not root.is_dir():
        raise SMPVideoFormatError(f"{root}: not a folder (the SMP-Video root holds train/ and test/)")
    frames, reports = [], {}
    for split in splits:
        if split != "train" and not any(p.exists() for (s, _), p in file_paths(root).items() if s == split):
            continue
        part, reports[split] = read_split(root, split)
        frames.append(part)
    df = pd.concat(frames, ignore_index=True)
    dup = df[df["Pid"].duplicated(keep=False)]
    if len(dup):
        probs = _Problems()
        for pid, g in dup.groupby("Pid", sort=False):
            probs.add(root / FILES[(g["source_split"].iloc[-1], "posts")], None,
                      f"field pid: {g['pid'].iloc[-1]!r} (number {pid}) is also a post of split "
                      f"'{g['source_split'].iloc[0]}'", "pid across splits")
        probs.raise_if_any()
    df = _canonical(df)
    report = {"posts": int(len(df)), "users": int(df["Uid"].nunique()),
              "labelled": int(df["label"].notna().sum()), "splits_read": list(reports),
              "splits": reports}
    return df, report


def file_hashes(root) -> dict[str, str]:
    """sha256 of every official file present under ``root`` (relative path -> hex digest)."""
    out = {}
    for rel in FILES.values():
        p = Path(root) / rel
        if p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def data_fingerprint(df: pd.DataFrame) -> str:
    """:func:`core.io.fingerprint_frame` of the canonical columns, rows in Pid order."""
    cols = [c for c in CANONICAL_COLUMNS if c in df.columns]
    df = df.iloc[np.argsort(df["Pid"].to_numpy(), kind="stable")]
    return fingerprint_frame(df, cols)


def _check_canonical(df: pd.DataFrame) -> None:
    if list(df.columns) != list(CANONICAL_COLUMNS):
        raise SMPVideoFormatError(f"canonical table: columns {list(df.columns)} differ from "
                                  f"CANONICAL_COLUMNS {list(CANONICAL_COLUMNS)}")
    wrong = {c: str(df[c].dtype) for c, t in CANONICAL_COLUMNS.items() if str(df[c].dtype) != t}
    if wrong:
        raise SMPVideoFormatError(f"canonical table: wrong dtypes {wrong}")


def write_canonical(df: pd.DataFrame, path, meta: dict) -> Path:
    """The canonical table, atomically, with meta ``{fingerprint, source, **meta}``."""
    _check_canonical(df)
    return write_parquet(df, path, {**meta, "fingerprint": data_fingerprint(df), "source": SOURCE})


def summary(df: pd.DataFrame) -> str:
    lab = df["label"].dropna()
    labels = (f"popularity min/mean/max {lab.min():.2f}/{lab.mean():.2f}/{lab.max():.2f} "
              f"({len(lab)} labelled)" if len(lab) else "no labels")
    parts = ", ".join(f"{n} {s}" for s, n in df["source_split"].value_counts(sort=False).items())
    span = f"{df['postdate'].min():%Y-%m-%d} to {df['postdate'].max():%Y-%m-%d}"
    return f"{len(df)} posts ({parts}), {df['Uid'].nunique()} users, {span}, {labels}"


# ----------------------------------------------------------------------------- splits
def make_splits(posts: pd.DataFrame, val_frac: float, test_frac: float, seed: int,
                chrono_val_frac: float, chrono_test_frac: float, data_fp: str | None = None):
    """Both protocols over the labelled posts: (DataFrame Pid/random/chrono, fingerprints)."""
    data_fp = data_fingerprint(posts) if data_fp is None else data_fp
    lab = posts[posts["label"].notna()]
    rnd = random_split(lab["Pid"], float(val_frac), float(test_frac), int(seed))
    chrono = chrono_split(lab, float(chrono_val_frac), float(chrono_test_frac))
    df = pd.DataFrame({"Pid": np.sort(lab["Pid"].to_numpy())})
    df["random"] = df["Pid"].map(rnd).astype("string")
    df["chrono"] = df["Pid"].map(chrono).astype("string")
    fps = {"random": split_fingerprint(rnd, "random", data_fp),
           "chrono": split_fingerprint(chrono, "chrono", data_fp)}
    return df, fps


def prepare(root, profile: str, val_frac: float, test_frac: float, seed: int, chrono_val_frac: float,
            chrono_test_frac: float, posts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Read ROOT (or take ``posts``, e.g. a subset for the smoke test), write
    ``data/<profile>/posts.parquet`` and ``splits.parquet``; return the posts and a report."""
    report = {}
    if posts is None:
        posts, report = read_smp_video(root)
    d = paths.data_dir(profile)
    data_fp = data_fingerprint(posts)
    splits, fps = make_splits(posts, val_frac, test_frac, seed, chrono_val_frac, chrono_test_frac, data_fp)
    write_canonical(posts, d / "posts.parquet",
                    {"root": paths.portable(root), "files": file_hashes(root), "report": report})
    from .splits import write_splits

    write_splits(splits, fps, data_fp, d / "splits.parquet")
    sizes = {s: splits[s].value_counts().reindex(list(SPLITS), fill_value=0).to_dict() for s in SCHEMES}
    chrono = posts.set_index("Pid").loc[splits.loc[splits["chrono"] == "test", "Pid"], "postdate"]
    return posts, {"reader": report, "data_fingerprint": data_fp, "split_fingerprints": fps,
                   "split_sizes": sizes, "chrono_test_from": f"{chrono.min():%Y-%m-%d %H:%M}"}


def load_posts(profile: str, scheme: str = "random", labelled_only: bool = True):
    """The canonical table with a ``split`` column for ``scheme`` and the scheme's split
    fingerprint, rows in Pid order. Refuses files whose contents no longer hash to what the
    writer recorded, and splits of another posts table."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown split scheme {scheme!r}; expected one of {SCHEMES}")
    d = paths.data_dir(profile)
    posts, pmeta = read_parquet(d / "posts.parquet")
    splits, smeta = read_parquet(d / "splits.parquet")
    fp = data_fingerprint(posts)
    if fp != pmeta.get("fingerprint") or smeta.get("data_fingerprint") != fp:
        raise FingerprintMismatch(f"{d}: posts.parquet ({fp!r}, recorded {pmeta.get('fingerprint')!r}) and "
                                  f"splits.parquet (made from {smeta.get('data_fingerprint')!r}) disagree - "
                                  "rerun the smp_video data step")
    assign = pd.Series(splits[scheme].to_numpy(dtype=object), index=pd.Index(splits["Pid"].to_numpy()))
    if split_fingerprint(assign, scheme, fp) != smeta["fingerprints"][scheme]:
        raise FingerprintMismatch(f"{d / 'splits.parquet'}: the '{scheme}' assignment was modified after it "
                                  "was written - rerun the smp_video data step")
    posts = posts.merge(splits[["Pid", scheme]].rename(columns={scheme: "split"}), on="Pid", how="left",
                        validate="one_to_one")
    if labelled_only:
        posts = posts[posts["split"].notna()]
    return posts.sort_values("Pid").reset_index(drop=True), smeta["fingerprints"][scheme]


# ----------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.data.smp_video",
                                 description="Validate or convert the official SMP-Video files.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check the files of ROOT, print a one-line summary")
    v.add_argument("root")
    c = sub.add_parser("convert", help="write the canonical table of ROOT to OUT.parquet")
    c.add_argument("root")
    c.add_argument("out")
    args = ap.parse_args(argv)
    try:
        df, report = read_smp_video(args.root)
        if args.cmd == "convert":
            write_canonical(df, args.out, {"root": os.fspath(args.root), "files": file_hashes(args.root),
                                           "report": report})
    except SMPVideoFormatError as e:
        print(f"INVALID: {e}", file=sys.stderr)
        return 1
    print(summary(df) + (f" -> {os.fspath(args.out)}" if args.cmd == "convert" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
