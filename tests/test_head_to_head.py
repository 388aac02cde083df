"""Head-to-head (analysis.head_to_head) and the reviewer-figure helpers of core.reports."""

import hashlib

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from smpp_utils.analysis import head_to_head as h2h  # noqa: E402
from smpp_utils.core import reports  # noqa: E402


def _toy(n=120, seed=0):
    rng = np.random.default_rng(seed)
    pids = np.arange(1000, 1000 + n)
    split = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    y = rng.normal(6, 2, n)
    posts = pd.DataFrame({"Pid": pids, "split": split, "label": y})
    rows = []
    for model, fam, noise in (("JRPP", "JRPP", 0.5), (h2h.JRPP_NO_TTA, "JRPP", 0.6),
                              ("SVR", "baseline", 1.0), ("SKAPP", "baseline", 1.5)):
        for s in range(2):
            for sp in ("val", "test"):
                m = split == sp
                # SKAPP: better than SVR on test only, worse on val (tests val-based choice)
                nz = noise if not (model == "SKAPP" and sp == "test") else 0.2
                rows.append(pd.DataFrame({"model": model, "family": fam, "seed": s, "Pid": pids[m],
                                          "split": sp, "y_pred": y[m] + rng.normal(0, nz, m.sum())}))
    return posts, pd.concat(rows, ignore_index=True)


def test_best_baseline_is_chosen_on_validation_not_test():
    posts, preds = _toy()
    labels = posts.set_index("Pid")["label"]
    t = h2h.model_table(preds, labels, "test").set_index("model")
    assert t.loc["SKAPP", "src_mean"] > t.loc["SVR", "src_mean"]     # SKAPP wins on test ...
    assert h2h.best_baseline(preds, labels) == "SVR"                 # ... SVR on val: SVR chosen


def test_model_table_mean_std_over_seeds():
    posts, preds = _toy()
    labels = posts.set_index("Pid")["label"]
    t = h2h.model_table(preds, labels, "test").set_index("model")
    assert t.loc["JRPP", "seeds"] == 2
    sub = preds[(preds["model"] == "JRPP") & (preds["split"] == "test")]
    mses = [np.mean((g["y_pred"].to_numpy() - labels.reindex(g["Pid"]).to_numpy()) ** 2)
            for _, g in sub.groupby("seed")]
    assert t.loc["JRPP", "mse_mean"] == pytest.approx(np.mean(mses))
    assert t.loc["JRPP", "mse_std"] == pytest.approx(np.std(mses, ddof=1))


def test_prediction_matrix_orders_by_pid_and_refuses_missing():
    posts, preds = _toy()
    test = posts.loc[posts["split"] == "test", "Pid"].to_numpy()[::-1]
    M = h2h.prediction_matrix(preds, "JRPP", test)
    assert M.shape == (2, len(test))
    row = preds[(preds["model"] == "JRPP") & (preds["seed"] == 1) & (preds["split"] == "test")]
    assert M[1, 0] == row.set_index("Pid").loc[test[0], "y_pred"]
    with pytest.raises(KeyError, match="missing"):
        h2h.prediction_matrix(preds, "JRPP", np.append(test, 1))


def test_claims_only_for_present_rows_and_tests_table():
    posts, preds = _toy()
    labels = posts.set_index("Pid")["label"]
    pairs = h2h.claims(set(preds["model"]), "SVR")
    assert [(a, b) for _, a, b in pairs] == [("JRPP", "SVR"), ("JRPP", h2h.JRPP_NO_TTA)]
    t = h2h.significance_table(preds, labels, pairs, n_boot=200, seed=0, alpha=0.05)
    assert len(t) == 6
    jr = t[(t["B"] == "SVR") & (t["metric"] == "mse")].iloc[0]
    assert jr["improvement"] > 0 and jr["p_value"] < 0.01     # noise 0.5 vs 1.0
    wide = h2h.format_tests(t)
    assert list(wide["claim"]) == [c for c, _, _ in pairs] and "p (SRC)" in wide
    # both direct-regression comparisons (content only; the fair one, same metadata) when present
    rows = {h2h.PAPER_A_LGBM, *(h2h.BOOSTING_ROWS[(v, "neural head")] for v in ("direct", "direct_meta"))}
    direct = [(a, b) for _, a, b in h2h.claims(rows, None)]
    assert direct == [(h2h.PAPER_A_LGBM, h2h.BOOSTING_ROWS[("direct", "neural head")]),
                      (h2h.PAPER_A_LGBM, h2h.BOOSTING_ROWS[("direct_meta", "neural head")])]


def test_hybrid_never_reads_test_labels():
    posts, preds = _toy(400)
    X = pd.DataFrame({"f0": np.random.default_rng(1).normal(size=len(posts))})
    params = {"lgbm_estimators": 20, "lgbm_lr": 0.1, "lgbm_leaves": 4}
    a = h2h.hybrid_predictions(X, posts, preds, params, base_seed=3, folds=2, threads=1)
    scrambled = posts.copy()
    te = scrambled["split"] == "test"
    scrambled.loc[te, "label"] = scrambled.loc[te, "label"].to_numpy()[::-1] * 10
    b = h2h.hybrid_predictions(X, scrambled, preds, params, base_seed=3, folds=2, threads=1)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["model"]) == {h2h.HYBRID, h2h.HYBRID_CONTROL}
    assert set(a.loc[a["split"] == "test", "Pid"]) == set(posts.loc[te, "Pid"])
    # the hybrid reads JRPP's prediction: it beats the control on test
    labels = posts.set_index("Pid")["label"]
    t = h2h.model_table(a, labels, "test").set_index("model")
    assert t.loc[h2h.HYBRID, "mse_mean"] < t.loc[h2h.HYBRID_CONTROL, "mse_mean"]


def test_report_rows_keep_best_baseline_only_and_order():
    posts, preds = _toy()
    t = h2h.model_table(preds, posts.set_index("Pid")["label"], "test")
    r = h2h.report_rows(t, "SVR")
    assert list(r["family"]) == ["JRPP", "JRPP", "baseline"]
    assert list(r["note"])[-1].startswith("best baseline")


# ----------------------------------------------------------------------------- figures
def _bar_fig(values, horizontal=False):
    fig, ax = plt.subplots()
    (ax.barh if horizontal else ax.bar)(["a", "b"], values)
    if horizontal:
        ax.set_xlim(0.5, 1.0)
    else:
        ax.set_ylim(0.5, 1.0)
    return fig, ax


def test_untruncate_bars_starts_value_axis_at_zero():
    fig, ax = _bar_fig([0.7, 0.8])
    reports.untruncate_bars(fig)
    assert ax.get_ylim()[0] == 0
    fig, ax = _bar_fig([0.7, 0.8], horizontal=True)
    reports.untruncate_bars(fig)
    assert ax.get_xlim()[0] == 0
    fig, ax = plt.subplots()
    ax.plot([1, 2], [5, 6])
    ax.set_ylim(4, 7)
    reports.untruncate_bars(fig)                 # a line plot is left alone
    assert ax.get_ylim() == (4, 7)
    plt.close("all")


def test_name_dataset_adds_label_once():
    fig, ax = plt.subplots()
    ax.set_title("SRC")
    reports.name_dataset(fig, "SMPD-Sim (smpd regime)")
    assert fig._suptitle.get_text() == "SMPD-Sim (smpd regime)"
    fig.suptitle("Head-to-head")
    reports.name_dataset(fig, "SMPD")
    assert fig._suptitle.get_text() == "Head-to-head - SMPD"
    reports.name_dataset(fig, "SMPD")            # already named: unchanged
    assert fig._suptitle.get_text() == "Head-to-head - SMPD"
    fig2, ax2 = plt.subplots()
    ax2.set_title("test SRC - SMPD-Sim (cold-start regime)")
    reports.name_dataset(fig2, "SMPD-Sim (cold-start regime)")
    assert fig2._suptitle is None
    with pytest.raises(ValueError):
        reports.name_dataset(fig2, "")
    plt.close("all")


def test_save_figure_writes_byte_stable_pdf_beside_png(tmp_path):
    digests = []
    for run in range(2):
        fig, _ = _bar_fig([0.7, 0.8])
        out = reports.save_figure(fig, tmp_path / f"r{run}" / "fig.png",
                                  data=pd.DataFrame({"x": [1]}))
        pdf = out.with_suffix(".pdf")
        assert out.is_file() and pdf.is_file() and out.with_suffix(".csv").is_file()
        assert pdf.read_bytes().startswith(b"%PDF")
        digests.append(hashlib.sha256(pdf.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
