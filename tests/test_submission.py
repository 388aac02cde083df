"""SMP Challenge submission export (analysis.submission): format, id checks, nothing partial."""

import json

import numpy as np
import pandas as pd
import pytest

from smpp_utils.analysis import submission as sub
from smpp_utils.core import paths
from smpp_utils.core.io import write_parquet


def _posts():
    return pd.DataFrame({"Pid": [5, 3, 9, 1, 7], "label": [1.0, 2.0, 3.0, 4.0, 5.0],
                         "source_split": ["train", "test", "test", "train", "test"]})


def _preds(pids=(3, 7, 9), scores=(2.5, 1.23456, 7.0)):
    return pd.DataFrame({"Pid": list(pids), "y_pred": list(scores)})


def test_format_and_order(tmp_path):
    out = sub.write_submission(_preds((9, 3, 7), (7.0, 2.5, 1.23456)), _posts(), tmp_path / "s.json",
                               details="nothing external")
    doc = json.loads(out.read_text())
    assert doc["version"] == "VERSION 1.2"
    assert doc["result"] == [{"post_id": "post3", "popularity_score": 2.5},
                             {"post_id": "post7", "popularity_score": 1.2346},
                             {"post_id": "post9", "popularity_score": 7.0}]
    assert doc["external_data"] == {"used": "false", "details": "nothing external"}


@pytest.mark.parametrize("preds, msg", [
    (_preds((3, 7), (1.0, 2.0)), "1 of 3 official test posts have no prediction, e.g. Pid 9"),
    (_preds((3, 7, 9, 5), (1.0, 2.0, 3.0, 4.0)), "not official test posts, e.g. 5"),
    (_preds((3, 7, 7, 9), (1.0, 2.0, 2.0, 3.0)), "predicted more than once, e.g. 7"),
    (_preds((3, 7, 9), (1.0, np.nan, 3.0)), "non-finite 'y_pred' for Pid 7"),
    (pd.DataFrame({"Pid": [3, 7, 9], "score": [1.0, 2.0, 3.0]}), "no score column"),
    (pd.DataFrame({"pid": [3, 7, 9], "y_pred": [1.0, 2.0, 3.0]}), "no 'Pid' column"),
    (pd.DataFrame({"Pid": ["3", "x7", "9"], "y_pred": [1.0, 2.0, 3.0]}), "'x7' is not an integer id"),
])
def test_bad_predictions_refused_and_nothing_written(tmp_path, preds, msg):
    out = tmp_path / "s.json"
    with pytest.raises(sub.SubmissionError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        sub.write_submission(preds, _posts(), out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_file_untouched_on_error(tmp_path):
    out = tmp_path / "s.json"
    out.write_text("old")
    with pytest.raises(sub.SubmissionError):
        sub.write_submission(_preds((3,), (1.0,)), _posts(), out)
    assert out.read_text() == "old"


def test_cli_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    write_parquet(_posts(), tmp_path / "data" / "ci" / "posts.parquet", {"fingerprint": "x"})
    good = tmp_path / "p.parquet"
    write_parquet(_preds().rename(columns={"y_pred": "score"}), good)
    out = tmp_path / "sub.json"
    assert sub.main(["--predictions", str(good), "--out", str(out), "--profile", "ci", "--column", "score"]) == 0
    assert [r["post_id"] for r in json.loads(out.read_text())["result"]] == ["post3", "post7", "post9"]
    bad = tmp_path / "bad.csv"
    _preds((3, 7), (1.0, 2.0)).to_csv(bad, index=False)
    out2 = tmp_path / "sub2.json"
    assert sub.main(["--predictions", str(bad), "--out", str(out2), "--profile", "ci"]) == 1
    assert "refusing a partial submission" in capsys.readouterr().err
    assert not out2.exists()
