"""A tiny SMP-Video release in the official layout (JSON lines, train/ and test/), written by
the tests of the SMP-Video reader and arm."""

from __future__ import annotations

import json
from pathlib import Path

from smpp_utils.data.smp_video import FILES

TRAIN_PID0, TEST_PID0 = 1, 101


def _record(kind: str, pid: int, uid: int, i: int, split: str) -> dict:
    p, u = f"POST{pid:08d}", f"USER{uid:08d}"
    if kind == "posts":
        month = 1 + i % 12 if split == "train" else 12
        return {"pid": p, "uid": u, "post_content": f"word{i % 3},fyp,topic{i % 5}", "post_location": "US" if i % 2 else "GB",
                "post_suggested_words": [f"sugg {i}"] if i % 3 == 0 else [], "post_text_language": "en",
                "video_path": f"{split}/{u}/VIDEO{pid:08d}.mp4",
                "post_time": f"{2022 if split == 'train' else 2023}-{month:02d}-{1 + i % 27:02d} {i % 24:02d}:{i % 60:02d}"}
    if kind == "videos":
        return {"vid": f"VIDEO{pid:08d}", "pid": p, "uid": u, "video_height": 1024, "video_width": 576,
                "video_duration": 10 + i, "video_ratio": "540p", "video_format": "mp4",
                "music_title": "original sound" if i % 2 else "Song A", "music_duration": 10 + i}
    if kind == "popularity":
        return {"pid": p, "uid": u, "popularity": round(2.0 + 0.5 * i, 2)}
    raise ValueError(kind)


def _user(uid: int) -> dict:
    return {"uid": f"USER{uid:08d}", "user_following_count": 10 * uid, "user_follower_count": 100 * uid,
            "user_likes_count": 1000 * uid, "user_video_count": uid, "user_digg_count": 5, "user_heart_count": 1000 * uid,
            "user_friend_count": 0}


def write_fixture(root, n_train: int = 12, n_test: int = 6) -> Path:
    """``n_train`` labelled and ``n_test`` unlabelled posts; users 1..4 post in train (user 1
    twice or more), test users 3..6; the test users file repeats one user row identically (as
    the published file does)."""
    root = Path(root)
    for split, n, pid0 in (("train", n_train, TRAIN_PID0), ("test", n_test, TEST_PID0)):
        posts = [(pid0 + i, 1 + i % 4 if split == "train" else 3 + i % 4, i) for i in range(n)]
        rows = {k: [_record(k, pid, uid, i, split) for pid, uid, i in posts]
                for k in ("posts", "videos", "popularity") if (split, k) in FILES}
        users = sorted({uid for _, uid, _ in posts})
        rows["users"] = [_user(u) for u in users]
        if split == "test":
            rows["users"].append(_user(users[0]))
        for kind, recs in rows.items():
            path = root / FILES[(split, kind)]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


def edit_lines(root, split: str, kind: str, fn) -> Path:
    """Apply ``fn(lines)`` (a list of the file's text lines) and write the file back."""
    path = Path(root) / FILES[(split, kind)]
    lines = path.read_text().splitlines()
    fn(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def edit_record(root, split: str, kind: str, index: int, **changes) -> Path:
    """Change fields of record ``index`` (0-based; line index + 1); a value ``...`` deletes the field."""
    def fn(lines):
        rec = json.loads(lines[index])
        for k, v in changes.items():
            if v is ...:
                rec.pop(k, None)
            else:
                rec[k] = v
        lines[index] = json.dumps(rec)
    return edit_lines(root, split, kind, fn)
