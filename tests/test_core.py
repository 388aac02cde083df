"""Core helpers: metrics and metadata features (params.yaml: test_config.py;
trainer: test_trainer.py; io and fingerprints: test_io.py; splits: test_splits.py)."""

import numpy as np
import pandas as pd
import pytest

from smpp_utils.core import metrics
from smpp_utils.data.features import metadata_features, oof_user_mean


# ----------------------------------------------------------------------------- metrics
def test_metrics_hand_checked():
    m = metrics.regression_metrics([1, 2, 3, 4], [2, 2, 3, 6])
    assert m["mse"] == pytest.approx((1 + 0 + 0 + 4) / 4)
    assert m["mae"] == pytest.approx((1 + 0 + 0 + 2) / 4)
    # ranks of predictions 2,2,3,6 -> 1.5,1.5,3,4; Spearman = Pearson of ranks
    assert m["src"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [1.5, 1.5, 3, 4])[0, 1])


def test_summarize_seeds():
    s = metrics.summarize_seeds([{"mse": 1, "mae": 1, "src": 0.5}, {"mse": 3, "mae": 1, "src": 0.7}])
    assert s["mse_mean"] == 2 and s["mse_std"] == pytest.approx(np.sqrt(2)) and s["mae_std"] == 0


# ----------------------------------------------------------------------------- posts
def _posts(n=200, n_test_file=20):
    rng = np.random.default_rng(0)
    pid = rng.permutation(np.arange(1000, 1000 + n + n_test_file))
    date = pd.to_datetime(np.sort(rng.integers(0, 10**8, n + n_test_file)), unit="s", utc=True)
    return pd.DataFrame({"Pid": pid, "postdate": date, "label": rng.normal(6, 2, n + n_test_file),
                         "source_split": ["train"] * n + ["test"] * n_test_file,
                         "Uid": rng.integers(0, 30, n + n_test_file).astype(str)})


# ----------------------------------------------------------------------------- features
def test_oof_user_mean_never_reads_own_or_eval_labels():
    uid = pd.Series(["a"] * 6 + ["b"] * 2)
    label = pd.Series([1.0, 2, 3, 4, 5, 6, 100, np.nan])
    is_train = np.array([1, 1, 1, 1, 1, 0, 1, 0], bool)
    # 6 train rows and 6 folds = leave-one-out: row r of user a sees (1+2+3+4+5 - y_r) / 4
    mean, count = oof_user_mean(uid, label, is_train, folds=6, seed=0)
    for r in range(5):
        assert count[r] == 4 and mean[r] == pytest.approx((15 - label[r]) / 4)
    assert np.isnan(mean[6]) and count[6] == 0                   # user b's only train row: nothing else
    assert mean[5] == pytest.approx(3.0) and count[5] == 5      # val row: all train rows of a
    assert mean[7] == pytest.approx(100.0)                       # user b's val row sees row 6
    # changing an evaluation label changes nothing
    label2 = label.copy()
    label2[5] = -50
    assert np.allclose(oof_user_mean(uid, label2, is_train, 6, 0)[0], mean, equal_nan=True)


def test_metadata_features_shape_and_types():
    posts = _posts(50, 0)
    posts["split"] = ["train"] * 40 + ["test"] * 10
    for c, v in {"photo_count": 10, "ispro": 0, "canbuypro": 1, "title": "IMG_1234", "tags": "a b c",
                 "latitude": np.nan, "geoaccuracy": 0, "mediatype": "photo", "category": "Food",
                 "subcategory": "Tea"}.items():
        posts[c] = v
    posts["photo_firstdate"] = posts["postdate"] - pd.Timedelta(days=10)
    f = metadata_features(posts, oof_folds=3)
    assert len(f) == 50 and f["title_camera"].eq(1).all() and f["tag_count"].eq(3).all()
    assert f["account_age_days"].eq(10).all() and str(f["category"].dtype) == "category"


# ----------------------------------------------------------------------------- report metrics
def test_write_metrics_moves_timings_out_of_the_results(tmp_path):
    import json

    from smpp_utils.core.reports import write_metrics

    path = tmp_path / "metrics" / "jrpp.json"
    write_metrics(path, {"src": 0.81, "stage_seconds": 12.5,
                         "jrpp": {"mse": 2.0, "sec_per_epoch": 3.0, "train_posts_per_s": 900.0,
                                  "posts_per_seed": [10, 10]},
                         "baseline_seconds": {"SVR": 1.0}})
    assert json.loads(path.read_text()) == {"src": 0.81, "jrpp": {"mse": 2.0, "posts_per_seed": [10, 10]}}
    timings = json.loads((tmp_path / "timings" / "jrpp.json").read_text())
    assert timings == {"stage_seconds": 12.5, "baseline_seconds": {"SVR": 1.0},
                       "jrpp": {"sec_per_epoch": 3.0, "train_posts_per_s": 900.0}}
    write_metrics(path, {"src": 0.81, "wall_seconds": 1.0})     # merges into the same timings file
    assert json.loads((tmp_path / "timings" / "jrpp.json").read_text())["wall_seconds"] == 1.0


def test_split_timings_reaches_into_lists_of_records():
    # boosting.json holds a list of per-model records with a fit_seconds each: those
    # durations made two identical runs differ byte-wise before this split
    from smpp_utils.core.reports import split_timings

    results, timings = split_timings({"rows": [{"model": "lgbm", "src": 0.7, "fit_seconds": 0.2},
                                               {"model": "cat", "src": 0.8, "fit_seconds": 1.6}],
                                      "seeds": [0, 1, 2]})
    assert results == {"rows": [{"model": "lgbm", "src": 0.7}, {"model": "cat", "src": 0.8}],
                       "seeds": [0, 1, 2]}
    assert timings == {"rows": [{"fit_seconds": 0.2}, {"fit_seconds": 1.6}]}
