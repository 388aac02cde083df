"""Core helpers (params.yaml: tests/test_config.py): atomic io and fingerprints, metrics, splits, features,
and the shared trainer's resume behaviour."""

import numpy as np
import pandas as pd
import pytest
import torch

from smpp_utils.core import io, metrics, trainer
from smpp_utils.data import splits
from smpp_utils.data.features import metadata_features, oof_user_mean


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


# ----------------------------------------------------------------------------- trainer
class _Lin(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def predict(self, b):
        return self.lin(b["x"]).squeeze(-1)

    def training_loss(self, b):
        return torch.nn.functional.mse_loss(self.predict(b) + 0.01 * torch.randn(len(b["y"])), b["y"])


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5]) + 3}


def test_trainer_resume_equals_continuous(tmp_path):
    cfg = trainer.TrainConfig(epochs=4, lr=0.05, batch_size=16, patience=10, seed=1)
    train, val = _data(64, 0), _data(32, 1)
    torch.manual_seed(0)
    full = trainer.Trainer(_Lin(), cfg, tmp_path / "a", progress=False)
    full.fit(train, val)
    torch.manual_seed(123)   # different init on purpose: resume must restore everything
    part = trainer.Trainer(_Lin(), cfg, tmp_path / "b", progress=False)
    torch.manual_seed(0)
    part.model.load_state_dict(_Lin().state_dict())
    part.fit(train, val, stop_after=2)
    resumed = trainer.Trainer(_Lin(), cfg, tmp_path / "b", progress=False)
    resumed.fit(train, val)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b)
    assert full.history.val_mse == resumed.history.val_mse
    assert (tmp_path / "b" / "best.pt").is_file() and (tmp_path / "b" / "last.pt").is_file()


def test_trainer_learns_and_early_stops(tmp_path):
    cfg = trainer.TrainConfig(epochs=50, lr=0.0, batch_size=16, patience=2, seed=0)
    t = trainer.Trainer(_Lin(), cfg, None, progress=False)
    h = t.fit(_data(32, 0), _data(16, 1))
    assert h.stopped_early and len(h.val_mse) == 3     # lr 0: no improvement after epoch 1
    model, h2 = trainer.fit(_Lin(), _data(256, 0), _data(64, 1),
                            trainer.TrainConfig(epochs=30, lr=0.05, batch_size=32, seed=0), progress=False)
    assert h2.best_val_mse < 0.05


def test_trainer_ignores_a_stale_checkpoint(tmp_path):
    cfg = trainer.TrainConfig(epochs=2, lr=0.05, batch_size=16, seed=1)
    trainer.Trainer(_Lin(), cfg, tmp_path, progress=False, run_key="data-A").fit(_data(32, 0), _data(16, 1))
    other = trainer.Trainer(_Lin(), cfg, tmp_path, progress=False, run_key="data-B")
    assert other.try_resume() is False and other.epoch == 0
    same = trainer.Trainer(_Lin(), cfg, tmp_path, progress=False, run_key="data-A")
    assert same.try_resume() is True and same.epoch == 2
