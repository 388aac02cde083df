"""Diverse few-shot sampling and hierarchical prototypes (Paper A Sec. 3.1)."""

import numpy as np
import pandas as pd
import pytest

from smpp_utils.paper_a import prototypes as P
from smpp_utils.core.io import FingerprintMismatch


def _train(seed=0):
    """Books (Entertainment) 200 posts / 20 users; Fish 40 posts / 2 users; Cats 5 posts."""
    rng = np.random.default_rng(seed)
    spec = [("Entertainment", "Books", 200, 20), ("Animal", "Fish", 40, 2),
            ("Animal", "Cats", 5, 5)]
    rows = []
    for cat, sub, n, n_users in spec:
        for i in range(n):
            rows.append({"Pid": len(rows) + 1, "Uid": f"{sub}-u{i % n_users}", "category": cat,
                         "subcategory": sub, "split": "train",
                         "postdate": pd.Timestamp("2015-01-01", tz="UTC")
                         + pd.Timedelta(days=int(rng.integers(0, 1000)))})
    df = pd.DataFrame(rows).sample(frac=1, random_state=seed).reset_index(drop=True)
    emb = rng.normal(size=(len(df), 16)).astype(np.float32)
    return df, emb


KW = dict(shots=20, time_bins=4, topic_clusters=3, user_cap=3, seed=11)


def test_sampler_caps_and_small_classes():
    df, emb = _train()
    sel = P.sample_diverse(df, emb, **KW)
    assert list(sel) == ["Cats", "Fish", "Books"]                  # schema order
    for name, pos in sel.items():
        assert (df.iloc[pos]["subcategory"] == name).all()
        assert len(np.unique(pos)) == len(pos)
    assert len(sel["Books"]) == 20
    assert df.iloc[sel["Books"]]["Uid"].value_counts().max() <= 3
    assert sorted(sel["Cats"]) == sorted(np.flatnonzero(df["subcategory"] == "Cats"))
    # Fish has 2 users: 20 posts need the cap relaxed to 10 per user, no further
    assert len(sel["Fish"]) == 20
    assert df.iloc[sel["Fish"]]["Uid"].value_counts().tolist() == [10, 10]
    counts = P.selection_counts(df, sel, user_cap=3, time_bins=4).set_index("subcategory")
    assert counts.loc["Fish", "cap_relaxed"] and not counts.loc["Books", "cap_relaxed"]
    assert counts.loc["Cats", "used_all"] and not counts.loc["Cats", "cap_relaxed"]
    assert not counts.loc["Books", "used_all"]
    assert counts.loc["Cats", "n_selected"] == counts.loc["Cats", "n_train"] == 5
    assert counts.loc["Books", "time_bins_covered"] == 4


def test_sampler_covers_time_bins_and_clusters():
    df, emb = _train()
    sel = P.sample_diverse(df, emb, **KW)
    books = np.flatnonzero(df["subcategory"] == "Books")
    bins = P._time_bins(df["postdate"].iloc[books].reset_index(drop=True), 4)
    chosen_bins = bins[np.searchsorted(books, sel["Books"])]
    # 4 bins x 3 clusters = 12 cells; 20 round-robin picks reach every bin at least 3 times
    assert np.bincount(chosen_bins, minlength=4).min() >= 3


def test_sampler_deterministic_and_train_only():
    df, emb = _train()
    a, b = P.sample_diverse(df, emb, **KW), P.sample_diverse(df, emb, **KW)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = P.sample_diverse(df, emb, **{**KW, "seed": 12})
    assert not np.array_equal(a["Books"], c["Books"])
    bad = df.copy()
    bad.loc[3, "split"] = "test"
    with pytest.raises(ValueError, match="not in the train split"):
        P.sample_diverse(bad, emb, **KW)
    with pytest.raises(ValueError, match="embeddings for"):
        P.sample_diverse(df, emb[:-1], **KW)


def test_prototypes_unit_norm_fixed_order_and_roundtrip(tmp_path):
    df, emb = _train()
    txt = np.random.default_rng(1).normal(size=(len(df), 8))
    valid = np.ones(len(df), bool)
    valid[np.flatnonzero(df["subcategory"] == "Fish")[0]] = False
    sel = P.sample_diverse(df, emb, **KW)
    pr = P.build_prototypes(df, sel, emb, txt, text_valid=valid)
    assert pr.subcategories == ["Cats", "Fish", "Books"]
    assert pr.categories == ["Animal", "Animal", "Entertainment"]
    assert pr.category_names == ["Animal", "Entertainment"]
    for arr in (pr.visual, pr.textual, pr.category_visual, pr.category_textual):
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1, atol=1e-5)
    # Eq. (Sec 3.1): mean of unit image embeddings, re-normalised
    u = emb[sel["Books"]] / np.linalg.norm(emb[sel["Books"]], axis=1, keepdims=True)
    np.testing.assert_allclose(pr.visual[2], u.mean(0) / np.linalg.norm(u.mean(0)), atol=1e-5)
    fish = [p for p in sel["Fish"] if valid[p]]
    m = txt[fish].mean(0)
    np.testing.assert_allclose(pr.textual[1], m / np.linalg.norm(m), atol=1e-5)
    a = pr.visual[0] + pr.visual[1]
    np.testing.assert_allclose(pr.category_visual[0], a / np.linalg.norm(a), atol=1e-5)
    assert pr.counts.tolist() == [5, 20, 20]
    assert "Dogs" in pr.missing and "Cats" not in pr.missing and len(pr.missing) == 74

    path = P.save_prototypes(tmp_path / "p.npz", pr, {"fingerprint": "abc"})
    back = P.load_prototypes(path, expect_fingerprint="abc")
    assert back.subcategories == pr.subcategories and back.missing == pr.missing
    np.testing.assert_array_equal(back.visual, pr.visual)
    assert back.meta["n_missing"] == 74
    with pytest.raises(FingerprintMismatch):
        P.load_prototypes(path, expect_fingerprint="other")


def test_tsne_figure_has_one_point_per_class():
    rng = np.random.default_rng(0)
    vis = rng.normal(size=(12, 16))
    df = P.prototype_tsne(vis, [f"c{i}" for i in range(12)], ["A"] * 6 + ["B"] * 6)
    assert list(df.columns) == ["x", "y", "category", "subcategory"] and len(df) == 12
    assert df[["x", "y"]].notna().all().all() and df["subcategory"].is_unique
    fig = P.plot_prototype_tsne(df)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert len(offsets) == 12
    np.testing.assert_allclose(np.sort(np.asarray(offsets)[:, 0]), np.sort(df["x"]))
