"""Paper A stage 2 (smpp_utils.paper_a.boosting) on small synthetic frames."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from smpp_utils.core import paths
from smpp_utils.paper_a import boosting as B

CFG = SimpleNamespace(lgbm_estimators=40, lgbm_lr=0.1, lgbm_leaves=7,
                      cat_iterations=40, cat_depth=3, cat_lr=0.2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 600
    meta = pd.DataFrame({"Pid": np.arange(1000, 1000 + n),
                         "x0": rng.normal(size=n), "x1": rng.normal(size=n),
                         "category": pd.Categorical(rng.choice(list("abcd"), n))})
    meta.loc[::17, "x1"] = np.nan
    emb = rng.normal(size=(n, 6)).astype(np.float32)
    y = (2 * meta["x0"] + (meta["category"] == "b") * 1.5 + emb[:, 0]
         + rng.normal(scale=0.5, size=n)).to_numpy()
    split = np.array(["train"] * 400 + ["val"] * 100 + ["test"] * 100)
    X = B.feature_matrix(meta, {"emb": emb})
    return X, y, split


@pytest.mark.parametrize("reg", ["LightGBM", "CatBoost"])
def test_regressor_reproducible_per_seed(data, reg):
    X, y, split = data
    a = B.run_variant("v", X, y, split, None, reg, seed=3, cfg=CFG, threads=2)
    b = B.run_variant("v", X, y, split, None, reg, seed=3, cfg=CFG, threads=2)
    c = B.run_variant("v", X, y, split, None, reg, seed=4, cfg=CFG, threads=2)
    np.testing.assert_array_equal(a["y_pred"], b["y_pred"])
    assert not np.array_equal(a["y_pred"], c["y_pred"])     # subsampling/random strength
    assert a["metrics"]["src"] > 0.5                          # it learned something
    assert a["n_train"] == 400 and a["n_features"] == X.shape[1]
    assert a["importance"].index.tolist() == X.columns.tolist()


def test_categorical_columns_are_native(data):
    X, y, split = data
    tr, va = split == "train", split == "val"
    lgbm = B.fit_lgbm(X[tr], y[tr], X[va], y[va], CFG, seed=0, threads=1)
    assert lgbm.booster_.dump_model()["feature_infos"]["category"]["values"]  # categorical split set
    cat = B.fit_catboost(X[tr], y[tr], X[va], y[va], CFG, seed=0, threads=1)
    assert cat.get_cat_feature_indices() == [X.columns.get_loc("category")]


def test_early_stopping_on_val(data):
    X, y, split = data
    tr, va = split == "train", split == "val"
    long = SimpleNamespace(lgbm_estimators=3000, lgbm_lr=0.5, lgbm_leaves=7,
                           cat_iterations=3000, cat_depth=3, cat_lr=0.5)
    lgbm = B.fit_lgbm(X[tr], y[tr], X[va], y[va], long, seed=0, threads=1)
    assert 0 < lgbm.best_iteration_ < 3000
    cat = B.fit_catboost(X[tr], y[tr], X[va], y[va], long, seed=0, threads=1)
    assert cat.tree_count_ == cat.get_best_iteration() + 1 < 3000     # best model kept


def test_run_variant_uses_selected_train_rows_only(data):
    X, y, split = data
    sel = np.ones(len(X), bool)
    sel[:100] = False                      # drops 100 train rows
    sel[450:460] = False                   # val rows: must be ignored by the selection
    r = B.run_variant("v", X, y, split, sel, "LightGBM", seed=0, cfg=CFG, threads=1)
    assert r["n_train"] == 300
    assert len(r["y_pred"]) == 100
    with pytest.raises(ValueError, match="unknown regressor"):
        B.run_variant("v", X, y, split, None, "XGB", seed=0, cfg=CFG)


@pytest.mark.parametrize("n,frac", [(10, 0.77), (101, 0.77), (7, 0.5), (5, 0.0), (5, 1.0)])
def test_select_by_loss_keeps_lowest(n, frac):
    rng = np.random.default_rng(n)
    loss = rng.random(n)
    keep = B.select_by_loss(loss, frac)
    k = round(frac * n)
    assert keep.sum() == k
    if 0 < k < n:
        assert loss[keep].max() < loss[~keep].min()


def test_select_by_loss_ties_and_missing():
    loss = np.array([1.0, np.nan, 0.5, 1.0, 1.0, np.nan, 0.2])
    keep = B.select_by_loss(loss, 0.6)          # 5 rows with a loss -> keep 3
    # 0.2 and 0.5, then the first 1.0 by position; NaN rows keep
    assert keep.tolist() == [True, True, True, False, False, True, True]
    with pytest.raises(ValueError):
        B.select_by_loss(loss, 1.5)


def test_train_selection_only_touches_train_rows():
    split = np.array(["train"] * 4 + ["val", "test"])
    loss = np.array([4.0, 3.0, 2.0, 1.0, 9.0, 9.0])
    keep = B.train_selection(loss, split, 0.5)
    assert keep.tolist() == [False, False, True, True, True, True]


def test_feature_matrix_aligns_by_pid():
    meta = pd.DataFrame({"Pid": [30, 10, 20], "x": [3.0, 1.0, 2.0],
                         "split": ["train", "train", "test"]})
    src_pids = np.array([10, 20, 30, 40])
    arr = np.array([[1.0, 10], [2, 20], [3, 30], [4, 40]])
    X = B.feature_matrix(meta, {"blk": arr}, array_pids=src_pids)
    assert X.columns.tolist() == ["x", "blk_000", "blk_001"]
    np.testing.assert_array_equal(X["blk_000"], X["x"])          # each row got its own Pid
    with pytest.raises(KeyError, match="blk"):
        B.feature_matrix(meta, {"blk": arr[:2]}, array_pids=src_pids[:2])
    with pytest.raises(ValueError, match="rows"):
        B.feature_matrix(meta, {"blk": arr})                      # positional, wrong length
    with pytest.raises(TypeError, match="'s'"):
        B.feature_matrix(meta.assign(s=["a", "b", "c"]), None)


def test_feature_matrix_pca_fitted_on_train_rows_only():
    rng = np.random.default_rng(1)
    n = 200
    split = np.array(["train"] * 150 + ["test"] * 50)
    arr = rng.normal(size=(n, 8))
    arr[:, 0] *= 5.0                                   # train direction of largest variance
    arr[150:, 1] *= 100.0                              # huge variance on test rows only
    meta = pd.DataFrame({"Pid": np.arange(n), "split": split, "x": rng.normal(size=n)})
    X = B.feature_matrix(meta, {"e": arr}, pca_dims=3)
    assert [c for c in X.columns if c.startswith("e_")] == ["e_000", "e_001", "e_002"]
    from sklearn.decomposition import PCA
    ref = PCA(3, random_state=0).fit(arr[:150]).transform(arr)
    np.testing.assert_allclose(np.abs(X[["e_000", "e_001", "e_002"]].to_numpy()), np.abs(ref),
                               rtol=1e-4, atol=1e-4)
    tr = X.loc[:149, "e_000"].to_numpy()
    assert abs(np.corrcoef(tr, arr[:150, 0])[0, 1]) > 0.9   # component 1 = the train axis
    narrow = B.feature_matrix(meta, {"e": arr[:, :2]}, pca_dims=3)   # narrower than pca_dims
    np.testing.assert_allclose(narrow[["e_000", "e_001"]].to_numpy(), arr[:, :2], rtol=1e-6)
    with pytest.raises(ValueError, match="train"):
        B.feature_matrix(meta.drop(columns="split"), {"e": arr}, pca_dims=3)


def _result(variant, reg, seed, src):
    return {"variant": variant, "regressor": reg, "seed": seed, "best_iteration": 1,
            "fit_seconds": 0.1, "n_train": 10, "n_features": 3, "importance": None,
            "metrics": {"src": src, "mae": 1.0 - src, "mse": 2.0 - src}}


def test_paper_table_has_paper_numbers_in_own_column():
    results = [_result("metadata", "LightGBM", 0, 0.5), _result("metadata", "LightGBM", 1, 0.6),
               _result("clipft", "LightGBM", 0, 0.7), _result("clipft", "CatBoost", 0, 0.71),
               _result("direct", B.NEURAL_HEAD, None, 0.4)]
    oracle = {"src": 0.9, "mae": 0.3, "mse": 0.2}
    t = B.paperA_table(results, oracle, B.PAPER_A_REPORTED, labels={"clipft": "CLIPFT"})
    assert B.PAPER_COLUMN in t.columns and "real SMPD" in B.PAPER_COLUMN
    row = t[(t.features == "CLIPFT") & (t.regressor == "LightGBM")].iloc[0]
    assert row[B.PAPER_COLUMN] == "SRC 0.7295" and row["SRC"] == "0.7000"
    assert t[(t.features == "CLIPFT") & (t.regressor == "CatBoost")][B.PAPER_COLUMN].item() == "SRC 0.7303"
    meta_row = t[t.features == "metadata"].iloc[0]
    assert meta_row[B.PAPER_COLUMN] == "" and meta_row["seeds"] == 2
    assert meta_row["SRC"] == "0.5500 ± 0.0707"
    assert "0.7295" not in " ".join(t.drop(columns=B.PAPER_COLUMN).astype(str).to_numpy().ravel())
    assert t.iloc[-1]["features"].startswith("oracle") and t.iloc[-1]["SRC"] == "0.9000"
    assert len(B.paperA_table(results, None, B.PAPER_A_REPORTED)) == 4


def test_missing_input_names_file_and_stage(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "data_dir", lambda p: tmp_path / "data" / p)
    monkeypatch.setattr(paths, "metrics_dir", lambda p: tmp_path / "metrics" / p)
    with pytest.raises(FileNotFoundError) as e:
        B.check_inputs("ci")
    msg = str(e.value)
    assert "features/clipft.npz" in msg and "finetune" in msg
    assert "emb/clip.npz" in msg and "prototypes" in msg
    assert "direct_regression.parquet" in msg and "data.json" in msg


def test_direct_regression_results_scores_test_rows(tmp_path, monkeypatch):
    from smpp_utils.core.io import FingerprintMismatch, write_parquet
    monkeypatch.setattr(paths, "data_dir", lambda p: tmp_path / p)
    posts = pd.DataFrame({"Pid": [1, 2, 3, 4, 5], "label": [1.0, 2.0, 3.0, 4.0, 5.0],
                          "split": ["train", "test", "test", "val", "test"]})
    pred = pd.DataFrame({"Pid": [5, 3, 2, 1], "split": ["test", "test", "test", "train"],
                         "y_pred": [5.5, 2.5, 2.0, 9.0]})
    write_parquet(pred, tmp_path / "ci" / "predictions" / "direct_regression.parquet",
                  {"fingerprint": "fp"})
    (r,) = B.direct_regression_results("ci", posts, "fp")
    assert r["regressor"] == B.NEURAL_HEAD and r["pids"].tolist() == [2, 3, 5]
    np.testing.assert_allclose(r["metrics"]["mae"], (0 + 0.5 + 0.5) / 3)
    assert r["metrics"]["src"] == pytest.approx(1.0)
    write_parquet(pred.iloc[1:], tmp_path / "ci" / "predictions" / "direct_regression.parquet",
                  {"fingerprint": "fp"})
    with pytest.raises(KeyError, match="5"):
        B.direct_regression_results("ci", posts, "fp")
    with pytest.raises(FingerprintMismatch):
        B.direct_regression_results("ci", posts, "other")


def test_direct_regression_results_one_row_per_variant(tmp_path, monkeypatch):
    from smpp_utils.core.io import write_parquet
    monkeypatch.setattr(paths, "data_dir", lambda p: tmp_path / p)
    posts = pd.DataFrame({"Pid": [1, 2, 3], "label": [1.0, 2.0, 3.0], "split": ["test"] * 3})
    pred = pd.DataFrame({"Pid": [1, 2, 3, 1, 2, 3], "split": ["test"] * 6,
                         "y_pred": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0],
                         "variant": ["direct"] * 3 + ["direct_meta"] * 3})
    write_parquet(pred, tmp_path / "ci" / "predictions" / "direct_regression.parquet",
                  {"fingerprint": "fp"})
    res = {r["variant"]: r for r in B.direct_regression_results("ci", posts, "fp")}
    assert set(res) == {"direct", "direct_meta"}
    assert res["direct"]["metrics"]["src"] == pytest.approx(1.0)
    assert res["direct_meta"]["metrics"]["src"] == pytest.approx(-1.0)
    assert B.VARIANT_LABELS["direct"].startswith("Direct regression (image + text only)")
    assert "metadata" in B.VARIANT_LABELS["direct_meta"]


_FIT_SCRIPT = """
import sys, numpy as np, pandas as pd
from types import SimpleNamespace
from smpp_utils.paper_a import boosting as B
rng = np.random.default_rng(1)
n = 1500
meta = pd.DataFrame({"Pid": np.arange(n), "c": pd.Categorical(rng.choice(list("abcdef"), n))})
emb = rng.normal(size=(n, 12)).astype(np.float32)
y = emb[:, 0] * 2 + emb[:, 1] * emb[:, 2] + (meta["c"] == "b") + rng.normal(scale=0.3, size=n)
split = np.array(["train"] * 1100 + ["val"] * 200 + ["test"] * 200)
X = B.feature_matrix(meta, {"e": emb})
cfg = SimpleNamespace(lgbm_estimators=60, lgbm_lr=0.1, lgbm_leaves=15, cat_iterations=60,
                      cat_depth=4, cat_lr=0.2)
out = [B.run_variant("v", X, y, split, None, r, seed=5, cfg=cfg)["y_pred"] for r in B.REGRESSORS]
np.save(sys.argv[1], np.stack(out))
"""


def test_gbdt_predictions_identical_whatever_omp_threads(tmp_path):
    """Issue 7/9: a seed gives the same bytes whatever the machine's thread settings
    (OMP_NUM_THREADS 1 vs 3, and one core vs all cores visible); the thread count is fixed
    by $SMPP_THREADS (default 2), not read from the machine."""
    import os
    import subprocess
    import sys

    script = tmp_path / "fit.py"
    script.write_text(_FIT_SCRIPT)
    outs = []
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    for omp, visible in (("1", cores[:1]), ("3", cores)):
        env = {**os.environ, "OMP_NUM_THREADS": omp}
        env.pop("SMPP_THREADS", None)
        out = tmp_path / f"pred_{omp}.npy"
        pin = (lambda: os.sched_setaffinity(0, visible)) if visible else None
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True,
                       cwd=str(paths.ROOT), timeout=300, preexec_fn=pin)
        outs.append(np.load(out))
    assert outs[0].tobytes() == outs[1].tobytes()


def test_default_threads_reads_smpp_threads(monkeypatch):
    monkeypatch.delenv("SMPP_THREADS", raising=False)
    assert B.default_threads() == 2
    monkeypatch.setenv("SMPP_THREADS", "3")
    assert B.default_threads() == 3


def test_caption_names_direct_seeds_and_why_fewer_than_three():
    one = B.table_caption("sim", "default", 10, [1, 2, 3], None, 7, 9, direct_seeds=1)
    three = B.table_caption("sim", "paper", 10, [1, 2, 3], None, 7, 9, direct_seeds=3)
    assert "Direct-regression rows (stage 03): 1 seed(s) (each seed is a full" in one
    assert "3 seed(s);" in three and "CPU cost" not in three
    assert "Direct-regression" not in B.table_caption("sim", "ci", 10, [1], None, 7, 9)
