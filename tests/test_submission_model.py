"""Paper A's model on the SMP Challenge protocol (paper_a.submission_model): no label of an
official test post reaches a feature or a prediction, every official test post gets exactly
one finite prediction, no train post is predicted, the JSON validates, missing features stop."""

import json

import numpy as np
import pandas as pd
import pytest

from smpp_utils.analysis import submission
from smpp_utils.core import paths
from smpp_utils.core.io import read_parquet, save_arrays
from smpp_utils.data.splits import chrono_split
from smpp_utils.paper_a import submission_model as sm

CFG = {"lgbm_estimators": 40, "lgbm_lr": 0.1, "lgbm_leaves": 7}
KW = dict(select_frac=0.77, oof_folds=3, seed=0, pca_dims=4)


def _posts(n_train=240, n_test=60, labelled_test=True, seed=0):
    """Train-file posts, then later test-file posts; label = user effect + block signal."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    date = pd.to_datetime(np.sort(rng.integers(0, 10**8, n)), unit="s", utc=True)
    uid = rng.integers(0, 20, n)
    signal = rng.normal(size=(n, 6)).astype(np.float32)
    label = 6 + 0.3 * uid + 2 * signal[:, 0] + rng.normal(scale=0.3, size=n)
    posts = pd.DataFrame({
        "Pid": rng.permutation(np.arange(5000, 5000 + n)), "Uid": uid.astype(str), "label": label,
        "source_split": ["train"] * n_train + ["test"] * n_test, "postdate": date,
        "photo_firstdate": date - pd.Timedelta(days=30), "photo_count": rng.integers(1, 500, n),
        "ispro": rng.integers(0, 2, n), "canbuypro": rng.integers(0, 2, n), "title": "sunset",
        "tags": "a b", "latitude": np.nan, "geoaccuracy": 0, "mediatype": "photo",
        "category": rng.choice(["Animal", "Food"], n), "subcategory": "Cats"})
    if not labelled_test:
        posts.loc[posts["source_split"] == "test", "label"] = np.nan
    posts["split"] = posts["Pid"].map(chrono_split(posts, 0.1, 0.1)).astype("string")
    blocks = {"clipft_image": signal, "clipft_text": rng.normal(size=(n, 5)).astype(np.float32)}
    return posts, blocks, rng.random(n)


def _run(posts, blocks, loss):
    X, y, role, sel, pids = sm.official_features(posts, blocks, loss, **KW)
    return X, sm.fit_official(X, y, role, sel, CFG, 0, pids, threads=1)["pred"]


def _test_rows(posts):
    return (posts["source_split"] == "test").to_numpy()


# ----------------------------------------------------------------------------- no label leak
@pytest.mark.parametrize("perturb", ["shuffle_and_shift", "nan"])
def test_official_test_labels_change_no_feature_and_no_prediction(perturb):
    posts, blocks, loss = _posts()
    X0, p0 = _run(posts, blocks, loss)
    test = _test_rows(posts)
    bad = posts.copy()
    rng = np.random.default_rng(9)
    bad.loc[test, "label"] = (rng.permutation(bad.loc[test, "label"].to_numpy()) + 50.0
                              if perturb == "shuffle_and_shift" else np.nan)
    X1, p1 = _run(bad, blocks, loss)
    pd.testing.assert_frame_equal(X0, X1)
    pd.testing.assert_frame_equal(p0, p1)
    # control: the check is sensitive - a train label does move the user mean label
    ctrl = posts.copy()
    ctrl.loc[(ctrl["split"] == "train").to_numpy(), "label"] += 5.0
    X2 = sm.official_features(ctrl, blocks, loss, **KW)[0]
    assert not np.allclose(X0["user_mean_label"], X2["user_mean_label"], equal_nan=True)


# ----------------------------------------------------------------------------- coverage
@pytest.mark.parametrize("labelled_test", [True, False])
def test_every_official_test_post_gets_one_finite_prediction_and_no_train_post(labelled_test):
    posts, blocks, loss = _posts(labelled_test=labelled_test)
    role = sm.official_split(posts)
    _, pred = _run(posts, blocks, loss)
    official = submission.official_test_pids(posts)
    assert np.array_equal(pred["Pid"].to_numpy(), official)          # each exactly once, ascending
    assert np.isfinite(pred["y_pred"]).all() and pred["y_pred"].std() > 0
    fitted = posts["Pid"].to_numpy()[np.isin(role, ["train", "val"])]
    assert not np.isin(pred["Pid"], fitted).any()
    submission.validated_scores(pred, official)                       # raises on any defect
    m = sm.official_test_metrics(posts, pred)
    if labelled_test:                                                 # SMPD-Sim: labelled later posts
        assert m["n"] == len(official) and m["src"] > 0.5             # block 0 carries the signal
    else:                                                             # real SMPD: unlabelled test,
        assert m is None                                              # chrono test rows are unused
        assert (role == "unused").sum() == round(0.1 * (~_test_rows(posts)).sum())


def test_official_split_roles_and_refusal():
    posts, _, _ = _posts(labelled_test=False)
    role = sm.official_split(posts)
    assert set(role[_test_rows(posts)]) == {"test"}
    assert set(role[~_test_rows(posts)]) == {"train", "val", "unused"}
    bad = posts.copy()
    bad.loc[bad.index[_test_rows(bad)][0], "split"] = "train"
    with pytest.raises(ValueError, match="official test post Pid .* is a chrono 'train' row"):
        sm.official_split(bad)


# ----------------------------------------------------------------------------- files
def test_outputs_validate_and_nothing_is_written_on_a_bad_prediction(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    posts, blocks, loss = _posts()
    _, pred = _run(posts, blocks, loss)
    with pytest.raises(submission.SubmissionError, match="1 of 60 official test posts have no prediction"):
        sm.write_outputs("ci", pred.iloc[1:], posts, {"fingerprint": "fp"}, True, "x")
    assert not sm.predictions_path("ci").exists() and not sm.submission_path("ci").exists()
    out, js = sm.write_outputs("ci", pred, posts, {"fingerprint": "fp"}, True, "details")
    back, meta = read_parquet(out, expect_fingerprint="fp")
    pd.testing.assert_frame_equal(back, pred)
    doc = json.loads(js.read_text())
    assert doc["external_data"] == {"used": "true", "details": "details"}
    again = pd.DataFrame({"Pid": [int(r["post_id"].removeprefix("post")) for r in doc["result"]],
                          "popularity_score": [r["popularity_score"] for r in doc["result"]]})
    scores = submission.validated_scores(again, submission.official_test_pids(posts))
    assert np.allclose(scores.to_numpy(), pred["y_pred"].to_numpy(), atol=5e-5)


def test_missing_features_for_official_test_posts_stop_with_their_pids(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    posts, blocks, loss = _posts(labelled_test=False)
    monkeypatch.setattr(sm, "load_posts", lambda profile, scheme, labelled_only: (posts, "chrono-fp"))
    monkeypatch.setattr(sm, "read_parquet_meta", lambda path: {"fingerprints": {"random": "rnd-fp"}})
    path = paths.data_dir("ci") / "features" / "clipft.npz"
    arrays = {k.removeprefix("clipft_"): v for k, v in blocks.items()}
    save_arrays(path, posts["Pid"], {**arrays, "cls_loss": loss}, {"fingerprint": "rnd-fp"})
    got = sm.load_official_inputs("ci")                               # keyed to every post: fine
    assert np.array_equal(got["blocks"]["clipft_image"], blocks["clipft_image"])
    keep = ~_test_rows(posts)                                         # only the train-file posts
    lost = np.sort(posts["Pid"].to_numpy()[~keep])[:5].tolist()
    save_arrays(path, posts["Pid"][keep], {k: np.asarray(v)[keep] for k, v in {**arrays, "cls_loss": loss}.items()},
                {"fingerprint": "rnd-fp"})
    with pytest.raises(sm.FeaturesMissing, match=rf"60 of 60 official test posts, e.g. Pid {lost}".replace("[", r"\[")):
        sm.load_official_inputs("ci")
