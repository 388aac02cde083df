"""Tiny valid SMPD release on disk, for the reader's tests.

``write_smpd_fixture`` writes the seven official files of train (and test) in either JSON
layout, with either timezone key, with comma- or space-separated subcategory names, and one
tiny JPEG per post at ``<split>/<Uid>/<Pid>.jpg``. Every row exercises a different corner of
the format (geotag '0' / '' / real, Pathalias 'None', photo_firstdate '' / 'None' / set, ...).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

SUBCATS = [("Fashion", "Girls,Fashion"), ("Social&People", "Good,Morning"), ("Animal", "Cats"),
           ("Travel&Active&Sports", "Health,Fitness"), ("Whether&Season", "Sunny")]
TRAIN_PID0, TEST_PID0 = 1000, 5000
POSTDATE0 = 1420070400  # 2015-01-01T00:00:00Z


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 60)).save(buf, format="JPEG")
    return buf.getvalue()


def fixture_records(split: str, n: int, *, tz_key: str = "timezone_id",
                    comma_names: bool = True) -> dict[str, list]:
    """Row-aligned records of the five JSON files, plus 'label' and 'img_filepath' lines."""
    pid0 = TRAIN_PID0 if split == "train" else TEST_PID0
    out = {k: [] for k in ("category", "text", "user", "additional", "temporalspatial",
                           "label", "img_filepath")}
    for i in range(n):
        pid, uid = str(pid0 + i), f"{i % 4}@N{10 + i % 4}"
        cat, sub = SUBCATS[i % len(SUBCATS)]
        ids = {"Uid": uid, "Pid": pid}
        out["category"].append({**ids, "Category": cat,
                                "Subcategory": sub if comma_names else sub.replace(",", " "),
                                "Concept": f"concept{i % 3}"})
        out["text"].append({**ids, "Title": "" if i % 5 == 0 else f"title {i}",
                            "Mediatype": "video" if i % 7 == 6 else "photo",
                            "Alltags": "" if i % 4 == 3 else f"tag{i} sky blue"})
        out["temporalspatial"].append({**ids, "Postdate": str(POSTDATE0 + 3600 * i),
                                       "Latitude": ["0", "", "40.7128"][i % 3],
                                       "Longitude": ["0", "", "-74.006"][i % 3],
                                       "Geoaccuracy": "16" if i % 3 == 2 else "0"})
        out["additional"].append({**ids, "Pathalias": "None" if i % 2 else f"alias{i % 4}",
                                  "Ispublic": "1", "Mediastatus": "ready"})
        out["user"].append({**ids, "photo_firstdate": ["", "None", "1300000000"][i % 3],
                            "photo_firstdatetaken": ["2009-05-08 15:28:47", "None", ""][i % 3],
                            "photo_count": str(10 + i), "ispro": str(i % 2), "canbuypro": "0",
                            "timezone_offset": "-08:00", tz_key: "America/Los_Angeles",
                            "user_description": "" if i % 2 else "I take photos",
                            "location_description": ""})
        out["label"].append(f"{1.0 + (1.37 * i) % 14:.2f}")
        out["img_filepath"].append(f"{split}/{uid}/{pid}.jpg")
    return out


def write_json_file(path, records: list[dict], layout: str = "records") -> None:
    """Write records as a list, or column-oriented {col: {"0": v, ...}}."""
    if layout == "columns":
        cols = list(dict.fromkeys(k for r in records for k in r))
        obj = {c: {str(i): r.get(c) for i, r in enumerate(records)} for c in cols}
    elif layout == "records":
        obj = records
    else:
        raise ValueError(f"unknown layout {layout!r}")
    Path(path).write_text(json.dumps(obj))


def write_split(root, split: str, n: int, *, layout="records", tz_key="timezone_id",
                comma_names=True, labels=True) -> None:
    root = Path(root)
    rec = fixture_records(split, n, tz_key=tz_key, comma_names=comma_names)
    names = {"category": "category", "text": "text", "user": "user_data",
             "additional": "additional_information",
             "temporalspatial": "temporalspatial_information"}
    for key, stem in names.items():
        write_json_file(root / f"{split}_{stem}.json", rec[key], layout)
    if labels:
        (root / f"{split}_label.txt").write_text("\n".join(rec["label"]) + "\n")
    (root / f"{split}_img_filepath.txt").write_text("\n".join(rec["img_filepath"]) + "\n")
    jpeg = _jpeg_bytes()
    for rel in rec["img_filepath"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(jpeg)


def write_smpd_fixture(root, n: int = 12, layout: str = "records", tz_key: str = "timezone_id",
                       comma_names: bool = True, with_test: bool = True,
                       test_labels: bool = False) -> Path:
    """Write a tiny valid SMPD release under ``root``: ``n`` train posts (labelled) and, with
    ``with_test``, ``n // 2`` test posts (unlabelled unless ``test_labels``). Returns root."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_split(root, "train", n, layout=layout, tz_key=tz_key, comma_names=comma_names)
    if with_test:
        write_split(root, "test", max(1, n // 2), layout=layout, tz_key=tz_key,
                    comma_names=comma_names, labels=test_labels)
    return root
