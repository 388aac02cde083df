"""Core helpers: config resolution, atomic io and fingerprints, metrics, splits, features."""

import numpy as np
import pandas as pd
import pytest
import torch

from smpp_utils.core import config, io, metrics
from smpp_utils.data import splits
from smpp_utils.data.features import metadata_features, oof_user_mean


# ----------------------------------------------------------------------------- config
def test_every_profile_has_the_same_knobs():
    params = config.load_params()
    keys = {p: {s: set(v) for s, v in params[p].items() if isinstance(v, dict)} for p in config.PROFILES}
    assert keys["ci"] == keys["default"] == keys["paper"]


def test_stage_fills_none_from_params_and_keeps_given(monkeypatch):
    monkeypatch.setenv("SMPP_PROFILE", "ci")
    cfg = config.stage("data", sim_posts=None, val_frac=0.2)
    assert cfg.profile == "ci"
    assert cfg.sim_posts == config.load_params()["ci"]["data"]["sim_posts"]
    assert cfg.val_frac == 0.2
    assert cfg.seed == config.load_params()["ci"]["seed"]


def test_stage_rejects_unknown_knob():
    with pytest.raises(KeyError, match="not in params.yaml"):
        config.stage("data", profile="ci", sim_postz=5)


def test_unknown_profile_is_an_error():
    with pytest.raises(ValueError, match="unknown profile"):
        config.active_profile("big")


# ----------------------------------------------------------------------------- io
def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_arrays_roundtrip_reorder_and_fingerprint(tmp_path):
    p = tmp_path / "e.npz"
    io.save_arrays(p, [3, 1, 2], {"x": np.array([[3.0], [1.0], [2.0]])}, {"fingerprint": "abc"})
    pids, arrs, meta = io.load_arrays(p, expect_fingerprint="abc", pids=[1, 2, 3])
    assert pids.tolist() == [1, 2, 3] and arrs["x"].ravel().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(io.FingerprintMismatch, match="does not match"):
        io.load_arrays(p, expect_fingerprint="other")
    with pytest.raises(KeyError, match="Pids not in the file"):
        io.load_arrays(p, pids=[1, 9])


def test_save_arrays_refuses_nan_and_misaligned(tmp_path):
    with pytest.raises(ValueError, match="NaN/inf at Pid 2"):
        io.save_arrays(tmp_path / "a.npz", [1, 2], {"x": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="has 1 rows for 2 Pids"):
        io.save_arrays(tmp_path / "a.npz", [1, 2], {"x": np.array([1.0])})
    assert not (tmp_path / "a.npz").exists()


def test_fingerprint_depends_on_order_and_content():
    assert io.fingerprint_ids([1, 2, 3]) == io.fingerprint_ids([1, 2, 3])
    assert io.fingerprint_ids([1, 2, 3]) != io.fingerprint_ids([1, 3, 2])
    assert io.fingerprint_ids([1, 2]) != io.fingerprint_ids([12])


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


# ----------------------------------------------------------------------------- splits
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
    assert fps == fps2 and df.equals(df2)
    _, fps3 = splits.make_splits(posts, 0.1, 0.1, seed=4)
    assert fps3["random"] != fps["random"] and fps3["chrono"] == fps["chrono"]


def test_chrono_split_is_chronological():
    posts = _posts()
    df, _ = splits.make_splits(posts, 0.1, 0.1, seed=0)
    m = posts.merge(df, on="Pid")
    assert (m.loc[m.chrono == "test", "source_split"] == "test").all()
    assert m.loc[m.chrono == "train", "postdate"].max() <= m.loc[m.chrono == "val", "postdate"].min()
    assert (m.chrono == "val").sum() == 20


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
