"""The SMP-Video arm: features and the inputs adapter (leak-free label columns), the
retrieved-label rule, knobs, tables, the submission export, and an end-to-end smoke on a
subset of the real files when they exist (skipped otherwise)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smpp_utils.analysis import smp_video as A
from smpp_utils.analysis import smp_video_report as R
from smpp_utils.analysis.submission import SubmissionError
from smpp_utils.core import paths
from smpp_utils.data import smp_video as V
from smpp_utils.data import smp_video_inputs as I

from smp_video_fixture import write_fixture


def real_root() -> Path:
    return Path(os.environ.get(A.ROOT_ENV) or Path(paths.ROOT).parent / "shared/data/smp_video")


@pytest.fixture
def proj(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path / "proj")
    return tmp_path / "proj"


@pytest.fixture
def posts(tmp_path, proj):
    root = write_fixture(tmp_path / "smpv", n_train=40, n_test=10)
    V.prepare(root, "smpv", 0.1, 0.1, 0, 0.1, 0.2)
    p, fp = V.load_posts("smpv", "random")
    return p, fp


def fake_embed(texts, batch_size=0):
    """A deterministic stand-in for MiniLM (unit vectors from the text's characters)."""
    out = np.zeros((len(texts), 16), np.float32)
    for i, t in enumerate(texts):
        for j, ch in enumerate(t.encode()):
            out[i, (ch + j) % 16] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


# ----------------------------------------------------------------------------- features / inputs
def test_metadata_features_values(posts):
    p, _ = posts
    f = I.metadata_features(p, 3, 0)
    assert list(f.columns) == I.NUMERIC_COLUMNS + I.CATEGORICAL_COLUMNS
    r = p.index[p["Pid"] == 4][0]                       # fixture i = 3: user 4, duration 13, original sound
    assert f.loc[r, "log_followers"] == pytest.approx(np.log1p(400))
    assert f.loc[r, "video_aspect"] == pytest.approx(1024 / 576) and f.loc[r, "video_res"] == 540
    assert f.loc[r, "music_original"] == 1 and f.loc[r, "music_matches_video"] == 1
    assert f.loc[r, "content_words"] == 3 and f.loc[r, "suggested_words_n"] == 1
    assert f.loc[r, "hour"] == 3 and f["days_in_period"].min() == 0
    assert str(f["country"].dtype) == "category"


def test_user_mean_label_is_out_of_fold(posts):
    p, _ = posts
    f = I.metadata_features(p, 3, 0)
    for row in (p.index[p["split"] == "train"][0], p.index[p["split"] == "test"][0]):
        q = p.copy()
        q.loc[row, "label"] += 50.0
        g = I.metadata_features(q, 3, 0)
        assert g.loc[row, "user_mean_label"] == f.loc[row, "user_mean_label"] or \
            (np.isnan(g.loc[row, "user_mean_label"]) and np.isnan(f.loc[row, "user_mean_label"]))
    test_rows = p["split"] != "train"
    q = p.copy()
    q.loc[test_rows, "label"] += 50.0                    # val/test labels are never read
    pd.testing.assert_frame_equal(I.metadata_features(q, 3, 0), f)


def test_build_inputs_format(posts):
    p, fp = posts
    emb = fake_embed(p["text"].tolist())
    data, info = I.build_inputs(p, emb, fp, "random", 3, 0)
    for s in ("train", "val", "test"):
        d = data[s]
        n = int((p["split"] == s).sum())
        assert d["img"].shape == (n, 0) and d["txt"].shape == (n, 16) and d["meta"].shape == d["meta_ctx"].shape
        assert {len(v) for v in d.values()} == {n} and (d["cat"] == 0).all()
    col = info["meta_columns"].index("user_mean_label")
    assert (data["train"]["meta_ctx"][:, col] == 0).all() and (data["train"]["meta"][:, col] != 0).any()
    seen = set(p.loc[p["split"] == "train", "Uid"])
    test_users = p.loc[p["split"] == "test", "Uid"].to_numpy()
    assert ((data["test"]["user"].numpy() == 0) == ~np.isin(test_users, list(seen))).all()
    assert info["dims"] == {"img": 0, "txt": 16, "meta": data["train"]["meta"].shape[1]}
    dp, ip = I.with_placeholder_image(data, info)
    assert dp["val"]["img"].shape == (len(data["val"]["y"]), 1) and float(dp["val"]["img"].abs().sum()) == 0
    assert ip["dims"]["img"] == 1 and data["val"]["img"].shape[1] == 0    # the original is untouched


def test_text_embeddings_cached_by_fingerprint(posts, monkeypatch):
    p, _ = posts
    calls = []

    def counting(texts, batch_size=0):
        calls.append(len(texts))
        return fake_embed(texts)
    e1 = I.text_embeddings("smpv", p, "fp-a", embed=counting)
    e2 = I.text_embeddings("smpv", p.iloc[::-1], "fp-a", embed=counting)
    assert calls == [len(p)] and np.array_equal(e2, e1[::-1])
    I.text_embeddings("smpv", p, "fp-b", embed=counting)             # other data: recomputed
    assert calls == [len(p), len(p)]


# ----------------------------------------------------------------------------- rows
def test_retrieved_labels_match_the_regime_rule_and_exclude_self():
    from smpp_utils.analysis.regimes import knn_prediction

    rng = np.random.default_rng(0)
    bank, q = rng.normal(size=(60, 8)), rng.normal(size=(9, 8))
    yb, tb, tq = rng.normal(size=60), rng.uniform(0, 100, 60), rng.uniform(0, 100, 9)
    f = A.retrieved_labels(bank, yb, tb, q, tq, 5, 20)
    assert np.allclose(f["knn"], knn_prediction(bank, yb, q, 5))
    assert np.allclose(f["knn_time"], knn_prediction(bank, yb, q, 5, tb, tq, 20))
    own = A.retrieved_labels(bank, yb, tb, bank, tb, 1, 1, np.arange(60))
    nearest_other = np.argsort(-(A_norm(bank) @ A_norm(bank).T - 10 * np.eye(60)), axis=1)[:, 0]
    assert np.allclose(own["knn"], yb[nearest_other])


def A_norm(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_knobs_come_from_params_yaml_and_the_root_env(monkeypatch):
    from smpp_utils.core import config

    monkeypatch.delenv(A.ROOT_ENV, raising=False)
    k = A.with_root(config.stage("smp_video", "smp_video"))
    assert k.n_seeds == 5 and k.schemes == "random,chrono" and k.smp_video_root == "../shared/data/smp_video"
    assert k.profile == "smp_video" and A.data_key(k.profile) == "smp_video"
    k = A.with_root(config.stage("smp_video", "ci"))
    assert (k.profile, k.n_seeds, k.max_posts) == ("ci", 1, 400) and A.data_key("ci") == "ci/smp_video"
    assert config.stage("smp_video", "ci", {"n_seeds": 3}).n_seeds == 3
    with pytest.raises(KeyError, match="n_seedz"):
        config.stage("smp_video", "ci", {"n_seedz": 1})
    monkeypatch.setenv(A.ROOT_ENV, "/data/x")
    assert A.with_root(config.stage("smp_video", "ci")).smp_video_root == "/data/x"
    monkeypatch.setenv(A.ROOT_ENV, "/nonexistent")
    with pytest.raises(FileNotFoundError, match="smp_video.data.smp_video_root: /nonexistent"):
        A.root_of(A.with_root(config.stage("smp_video", "smp_video")))


def _fake_results():
    rng = np.random.default_rng(1)
    y = {s: rng.normal(8, 2, n) for s, n in (("train", 50), ("val", 30), ("test", 40))}
    preds = {}
    for m, noise in ((A.GBDT, 0.5), (A.JRPP, 1.0), (A.JRPP_NO_TTA, 1.0), (A.META_GBDT, 2.0), ("MFTM", 1.5),
                     (A.KNN, 3.0), (A.KNN_SHUF, 100.0), (A.TRAIN_MEAN, None)):
        if noise is None:
            preds[m] = {s: np.full((1, len(y[s])), 8.0) for s in ("val", "test")}
        else:
            preds[m] = {s: np.stack([y[s] + rng.normal(0, noise, len(y[s])) for _ in range(2)]) for s in ("val", "test")}
    r = {"y": y, "pids": {s: np.arange(len(v)) for s, v in y.items()}, "preds": preds,
         "not_run": {"DLBA": A.NEEDS_IMAGES["DLBA"]}, "seeds": {m: [0, 1] for m in preds}, "notes": {}, "fingerprint": "f"}
    return {"random": r}


def test_tables_and_significance():
    res = _fake_results()
    summ = R.summary_table(res)
    t2 = R.table2(summ, res)
    assert t2["model"].tolist()[:2] == ["MFTM", "DLBA"]
    assert t2.loc[t2["model"] == "DLBA", "note"].item().startswith("n/a: needs images")
    assert (t2["note"] == "n/a: needs images/categories").sum() == 2
    assert R.best_baseline(res, "random") == "MFTM"
    sig = R.significance_table(res, 200, 0)
    assert set(sig["metric"]) == {"src", "mse"} and (sig["q_bh"] >= sig["p_value"] - 1e-12).all()
    p = sig.set_index(["claim", "metric"])["p_value"]
    assert p[("Paper A's regressor family beats JRPP", "src")] < 0.05
    assert p[("negative control: kNN on shuffled bank labels beats the train mean", "src")] > 0.05
    disp = R.head_to_head_display(sig)
    assert disp.loc[disp["claim (A beats B)"] == "Paper A's regressor family beats JRPP", "holds (q < 0.05 on SRC)"].item() == "yes"
    assert R.dataset_caption(4000) == "SMP-Video (real, 4,000 posts, text + metadata, no video frames)"


# ----------------------------------------------------------------------------- submission
def test_submission_export(tmp_path, posts):
    p, _ = posts
    allp, _ = V.load_posts("smpv", "random", labelled_only=False)
    test = allp[allp["source_split"] == "test"]
    preds = pd.DataFrame({"Pid": test["Pid"].to_numpy(), "y_pred": np.linspace(1, 2, len(test))})
    out = R.write_submission(preds, allp, tmp_path / "sub.csv")
    sub = pd.read_csv(out)
    assert list(sub.columns) == list(R.SUBMISSION_COLUMNS) and len(sub) == len(test)
    assert set(sub["pid"]) == set(test["pid"]) and not set(sub["pid"]) & set(p["pid"])
    assert np.isfinite(sub["popularity_score"]).all()
    for bad in (preds.iloc[1:], pd.concat([preds, pd.DataFrame({"Pid": [p["Pid"].iloc[0]], "y_pred": [1.0]})]),
                preds.assign(y_pred=np.r_[np.nan, preds["y_pred"].to_numpy()[1:]])):
        with pytest.raises(SubmissionError):
            R.write_submission(bad, allp, tmp_path / "bad.csv")
        assert not (tmp_path / "bad.csv").exists()


def test_submission_splits_keep_test_posts_apart(posts):
    allp, _ = V.load_posts("smpv", "random", labelled_only=False)
    s = R.submission_splits(allp, 0.2)
    assert (s.loc[s["label"].isna(), "split"] == "test").all()
    assert s.loc[s["label"].notna(), "split"].value_counts().to_dict() == {"train": 32, "val": 8}
    lab = s[s["label"].notna()].set_index("split")["postdate"]
    assert lab.loc["val"].min() >= lab.loc["train"].max()


# ----------------------------------------------------------------------------- smoke on the real files
@pytest.mark.slow
@pytest.mark.skipif(not (real_root() / "train").is_dir(), reason="SMP-Video folder absent (../shared/data/smp_video)")
def test_end_to_end_smoke_on_real_subset(tmp_path, monkeypatch):
    """400 labelled posts (and 200 unlabelled), one seed, tiny epochs: every row, both
    protocols, the tables, figure, metrics and the submission."""
    from smpp_utils.core.device import configure_determinism
    from smpp_utils.core.reports import save_figure, write_metrics, write_table

    from smpp_utils.core import config

    monkeypatch.setenv(A.ROOT_ENV, str(real_root()))
    cfg = A.with_root(config.stage("smp_video", "smp_video", dict(
        max_posts=400, n_seeds=1, jrpp_epochs=2, n_boot=100, lgbm_estimators=60, cat_iterations=60,
        hybrid_folds=2, knn_k=5, knn_shortlist=20, pca_dims=8)))
    jcfg = A.jrpp_config(cfg)
    jcfg.k, jcfg.shortlist, jcfg.tta_T, jcfg.batch_size, jcfg.tta_scale_grid = 10, 20, 2, 128, "1"
    monkeypatch.setattr(paths, "ROOT", tmp_path / "proj")
    configure_determinism(cfg.seed)
    prepared = A.prepare_data(cfg, log=None)
    assert prepared["posts"]["label"].notna().sum() == 400 and len(prepared["posts"]) == 600
    results, clock = A.run_arm(cfg, jcfg, prepared, log=None)
    A.write_predictions(cfg.profile, results)
    summ = R.summary_table(results)
    label = R.dataset_caption(400)
    for scheme, n_test in (("random", 40), ("chrono", 80)):
        r = results[scheme]
        assert len(r["y"]["test"]) == n_test
        assert set(r["not_run"]) == {"DLBA", "NIPA", "MMRA"}
        for model in (A.GBDT, A.JRPP, A.JRPP_CU, A.HYBRID, A.KNN_SHUF, "SKAPP", "MFTM"):
            assert r["preds"][model]["test"].shape == (1, n_test) and np.isfinite(r["preds"][model]["test"]).all()
    src = summ.set_index(["scheme", "model"])["src_mean"]
    assert src[("random", A.META_GBDT)] > 0.3                      # real, learnable signal
    t2 = R.table2(summ, results)
    sig = R.significance_table(results, cfg.n_boot, cfg.seed)
    out = tmp_path / "reports"
    write_table(t2, out / "tables", "table2_smp_video", R.table2_caption(label, results, cfg, jcfg))
    assert "SMP-Video (real, 400 posts, text + metadata, no video frames)" in (out / "tables/table2_smp_video.md").read_text()
    assert len(sig) == 2 * 2 * len(R.claims(results["random"]["preds"], "MFTM"))
    save_figure(R.plot_src(summ, label), out / "figures/smp_video.png", data=summ)
    metrics = R.metrics_json(summ, sig, results, prepared, cfg, jcfg, label)
    write_metrics(out / "metrics/smp_video.json", metrics)
    assert json.loads((out / "metrics/smp_video.json").read_text())["posts"]["labelled"] == 400
    official = R.official_predictions(prepared, cfg)
    sub = pd.read_csv(R.write_submission(official, prepared["posts"], tmp_path / "sub.csv"))
    test_pids = prepared["posts"].loc[prepared["posts"]["source_split"] == "test", "pid"]
    assert len(sub) == 200 and set(sub["pid"]) == set(test_pids) and np.isfinite(sub["popularity_score"]).all()
