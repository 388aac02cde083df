"""Paper A ablations (notebook 10): the random-selection control, tail oversampling, the
feature-level branch rows, per-category MAE, stage 05's predictions and the input check."""

import numpy as np
import pandas as pd
import pytest

from smpp_utils.core import paths
from smpp_utils.core.io import write_parquet
from smpp_utils.paper_a import ablations, boosting

SPLIT = np.array(["train"] * 100 + ["val"] * 20 + ["test"] * 30)


# ----------------------------------------------------------------------------- selection
def test_random_selection_picks_exactly_round_frac_of_train_and_is_seeded():
    m = ablations.random_train_selection(SPLIT, 0.77, seed=3)
    train = SPLIT == "train"
    assert m[train].sum() == round(0.77 * 100) == 77
    assert m[~train].all()                       # val/test never dropped ...
    fitted = train & m                           # ... and never among the rows run_variant fits on
    assert fitted.sum() == 77 and not fitted[~train].any()
    assert np.array_equal(m, ablations.random_train_selection(SPLIT, 0.77, seed=3))
    assert not np.array_equal(m, ablations.random_train_selection(SPLIT, 0.77, seed=4))
    # a shuffled split: only positions that are train can be picked
    rng = np.random.default_rng(0)
    sp = rng.permutation(SPLIT)
    m2 = ablations.random_train_selection(sp, 0.5, seed=1)
    assert m2[sp == "train"].sum() == 50 and m2[sp != "train"].all()
    with pytest.raises(ValueError, match="frac"):
        ablations.random_train_selection(SPLIT, 1.5, seed=0)


def test_oversampling_repeats_exactly_the_selected_train_rows_above_the_threshold():
    y = np.zeros(len(SPLIT))
    y[[1, 5, 9]] = 13.0          # train, above
    y[[2]] = 12.0                # train, at the threshold: not above
    y[[105, 130]] = 14.0         # val and test above: never repeated
    sel = np.ones(len(SPLIT), bool)
    sel[9] = False               # dropped by the selection: not repeated either
    idx = ablations.oversample_index(y, SPLIT, sel, 12.0, 3)
    assert np.array_equal(idx[:len(y)], np.arange(len(y)))       # every row once, in order
    assert sorted(idx[len(y):].tolist()) == [1, 1, 5, 5]          # + (3 - 1) copies of rows 1, 5
    assert np.array_equal(ablations.oversample_index(y, SPLIT, sel, 12.0, 1), np.arange(len(y)))
    assert sorted(ablations.oversample_index(y, SPLIT, None, 12.0, 2)[len(y):].tolist()) == [1, 5, 9]
    with pytest.raises(ValueError, match="factor"):
        ablations.oversample_index(y, SPLIT, sel, 12.0, 0)


def test_fit_oversampled_scores_the_original_test_rows():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=len(SPLIT)), "b": rng.normal(size=len(SPLIT))})
    y = 6 + 3 * X["a"].to_numpy() + rng.normal(scale=0.1, size=len(SPLIT))
    pids = np.arange(1000, 1000 + len(SPLIT))
    cfg = {"lgbm_estimators": 20, "lgbm_lr": 0.1, "lgbm_leaves": 4}
    n_tail = int(((SPLIT == "train") & (y > 9)).sum())
    assert n_tail > 0
    r = ablations.fit_oversampled(X, y, SPLIT, None, 9.0, 4, "LightGBM", 0, cfg, threads=1, pids=pids)
    assert np.array_equal(r["pids"], pids[SPLIT == "test"])
    assert r["n_train"] == 100 + 3 * n_tail
    base = boosting.run_variant("b", X, y, SPLIT, None, "LightGBM", 0, cfg, threads=1, pids=pids)
    assert ablations.consistency_gap(r, base) > 0           # the repeated rows changed the fit


# ----------------------------------------------------------------------------- branch rows
def _matrix():
    meta = pd.DataFrame({"m1": np.arange(6.0), "m2": np.ones(6)})
    blocks = {b: np.random.default_rng(0).normal(size=(6, 3)) for b in
              ("clipft_enhanced", "clipft_global", "clipft_image", "clipft_local", "clipft_probs",
               "clipft_text", "minilm_text")}
    return boosting.feature_matrix(meta, blocks)


def test_branch_column_sets_are_disjoint_nonempty_and_nested_in_dual():
    X = _matrix()
    rows = {v: set(ablations.variant_columns(X, b)) for v, b in ablations.variant_blocks("minilm_text").items()}
    shared = rows["no_branch"]
    glob, loc = rows["global_only"] - shared, rows["local_only"] - shared
    assert glob and loc and not glob & loc
    assert {ablations.block_of(c) for c in glob} == {"clipft_global"}
    assert {"m1", "m2"} <= shared and all(ablations.block_of(c) != "" for c in shared - {"m1", "m2"})
    for v in ("no_branch", "global_only", "local_only", "no_prototypes"):
        assert rows[v] < rows["dual"], v
    proto = rows["dual"] - rows["no_prototypes"]
    assert {ablations.block_of(c) for c in proto} == {"clipft_enhanced", "clipft_probs"}
    assert not proto & rows["raw_tags"]
    assert rows["raw_tags"] - rows["no_prototypes"] == {f"minilm_text_{i:03d}" for i in range(3)}
    assert "minilm_text_000" not in rows["dual"]
    # the dual row keeps stage 05's column order (metadata, then blocks sorted by name)
    assert ablations.variant_columns(X, ablations.variant_blocks("minilm_text")["dual"]) == \
        [c for c in X.columns if not c.startswith("minilm_text")]


def test_a_block_absent_from_the_matrix_is_an_error():
    with pytest.raises(KeyError, match="clip_text"):
        ablations.variant_columns(_matrix(), ("clipft_image", "clip_text"))


# ----------------------------------------------------------------------------- metrics
def test_category_mae_by_hand():
    labels = pd.Series([1.0, 2.0, 3.0, 5.0], index=[10, 11, 12, 13])
    cats = pd.Series(["A", "A", "B", "B"], index=[10, 11, 12, 13])
    preds = pd.DataFrame({"Pid": [10, 11, 12, 13] * 2, "seed": [0] * 4 + [1] * 4,
                          "y_pred": [2.0, 2.0, 3.0, 3.0,      # seed 0: |err| A 1,0  B 0,2
                                     1.0, 4.0, 6.0, 5.0]})    # seed 1: |err| A 0,2  B 3,0
    out = ablations.category_mae(preds, labels, cats).set_index("category")
    assert out.loc["A", "n"] == 2 and out.loc["B", "n"] == 2
    assert out.loc["A", "mae_mean"] == pytest.approx((0.5 + 1.0) / 2)
    assert out.loc["B", "mae_mean"] == pytest.approx((1.0 + 1.5) / 2)
    assert out.loc["A", "mae_std"] == pytest.approx(np.std([0.5, 1.0], ddof=1))
    ref = out.reset_index().assign(mae_mean=[0.1, 9.0], mae_std=0.0)
    shown, nums = ablations.category_frames(out.reset_index(), ref, "m", "r")
    assert nums["category"].tolist() == ["B", "A"]             # hardest first
    assert nums["delta"].tolist() == pytest.approx([1.25 - 9.0, 0.75 - 0.1])


def test_tail_metrics_by_hand_and_without_tail_posts():
    t = ablations.tail_metrics([1.0, 13.0, 15.0], [2.0, 12.0, 12.0], 12.0)
    assert t["n_tail"] == 2 and t["tail_mae"] == pytest.approx(2.0)
    assert t["tail_bias"] == pytest.approx(-2.0) and t["mean_pred"] == pytest.approx(26 / 3)
    assert t["mae"] == pytest.approx(5 / 3)
    empty = ablations.tail_metrics([1.0, 2.0], [1.5, 2.5], 12.0)
    assert empty["n_tail"] == 0 and np.isnan(empty["tail_mae"])


# ----------------------------------------------------------------------------- inputs
def test_missing_inputs_are_named_with_the_stage_that_writes_them(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    d = tmp_path / "data" / "ci"
    (d / "features").mkdir(parents=True)
    (d / "features" / "clipft.npz").write_bytes(b"x")
    with pytest.raises(FileNotFoundError) as exc:
        ablations.check_inputs("ci", "minilm:text")
    msg = str(exc.value)
    assert str(d / "features" / "metadata.parquet") in msg and "boosting" in msg
    assert str(d / "emb" / "minilm.npz") in msg and "prototypes" in msg
    assert str(d / "predictions" / "boosting.parquet") in msg
    assert "clipft.npz" not in msg                              # present: not listed


def test_stage05_results_need_every_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    posts = pd.DataFrame({"Pid": [1, 2, 3, 4], "split": ["train", "val", "test", "test"],
                          "label": [1.0, 2.0, 3.0, 5.0]})
    pred = pd.DataFrame({"Pid": [3, 4], "variant": "clipft", "regressor": "LightGBM", "seed": 7,
                         "y_pred": [2.5, 4.0]})
    path = tmp_path / "data" / "ci" / "predictions" / "boosting.parquet"
    path.parent.mkdir(parents=True)
    write_parquet(pred, path, {"fingerprint": "fp"})
    [r] = ablations.stage05_results("ci", posts, "fp", {"dual": "clipft"}, ["LightGBM"], [7], {"dual": 1})
    assert r["variant"] == "dual" and r["n_train"] == 1 and r["metrics"]["mae"] == pytest.approx(0.75)
    with pytest.raises(KeyError, match="boosting.parquet.*seed 8"):
        ablations.stage05_results("ci", posts, "fp", {"dual": "clipft"}, ["LightGBM"], [7, 8])


def test_refit_check_names_the_seed_and_the_file():
    ablations.check_refit(0.0, 7)
    with pytest.raises(ValueError, match=r"seed 7\).*boosting.parquet by up to 0.01"):
        ablations.check_refit(0.01, 7)


def test_row_labels_fill_the_selection_share_and_raw_block():
    labels, selection = ablations.row_labels("minilm_text", 0.77, ["global_only"])
    assert "minilm_text" in labels["raw_tags"] and "77%" in labels["random_frac"]
    assert selection == {"dual": "loss-selected 77%", "global_only": "loss-selected 77%",
                         "random_frac": "random 77%"}


# ----------------------------------------------------------------------------- retrained rows
def test_retrained_branch_rows_are_named_grouped_and_ordered():
    from smpp_utils.paper_a import branch_retrain

    assert branch_retrain.parse_branches("global, local") == ["global", "local"]
    assert branch_retrain.parse_branches("") == []
    with pytest.raises(ValueError, match="unknown branch.*enhanced"):
        branch_retrain.parse_branches("global,enhanced")
    from smpp_utils.core.knobs import PaperAAblationsKnobs
    choices = PaperAAblationsKnobs.__dataclass_fields__["retrain_branches"].metadata["choices"]
    assert set(choices) == set(branch_retrain.BRANCH_MODEL)   # the knob offers exactly the branches
    assert set(branch_retrain.BRANCH_BLOCKS) == set(branch_retrain.BRANCH_TOP1) == set(choices)
    for b in branch_retrain.BRANCH_MODEL:
        row = f"{b}_retrained"
        assert branch_retrain.row_name(b) == row
        assert row in ablations.ORDER and "RETRAINED" in ablations.LABELS[row]
        assert ablations.GROUPS[row].endswith("(retrained)")
        assert branch_retrain.block_name(b, "image") == f"{b}model_image"
        assert ablations.block_of(branch_retrain.block_name(b, "image") + "_003") == f"{b}model_image"
    labels, selection = ablations.row_labels("minilm_text", 0.77, ["global_retrained"])
    assert selection["global_retrained"] == "loss-selected 77%"


def test_retrained_rows_require_prototypes_and_the_backbone(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    d = tmp_path / "data" / "ci"
    plain = ablations.required_inputs("ci", "minilm:text")
    retrain = ablations.required_inputs("ci", "minilm:text", retrain=True)
    assert str(d / "prototypes.npz") in retrain and str(d / "prototypes.npz") not in plain
    assert str(tmp_path / "models" / "ci" / "clip_pretrain.pt") in retrain
    with pytest.raises(FileNotFoundError, match="clip_pretrain.pt"):
        ablations.check_inputs("ci", "minilm:text", retrain=True)
