"""The 12 baselines of JRPP Table 2 (smpp_utils.baselines) on tiny synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smpp_utils.baselines import KIND, NEURAL, REGISTRY, NotRun, skapp
from smpp_utils.baselines.features import standardised
from smpp_utils.baselines.fit import default_cfg
from smpp_utils.baselines.retriever import CosineRetriever
from smpp_utils.data.synthetic import make_synthetic
from smpp_utils.jrpp.report import PAPER_TABLE2

TABLE2 = [name for name in PAPER_TABLE2 if name != "JRPP"]   # the paper's rows, its order


@pytest.fixture(scope="module")
def tiny():
    """Strong signal, little noise; small enough that all 12 baselines fit in seconds."""
    return make_synthetic(n_train=400, n_val=100, n_test=100, di=12, dt=16, dm=4, n_users=30,
                          n_cats=4, n_tags=20, max_tags=6, noise=0.2, seed=3)


@pytest.fixture(scope="module")
def cfg():
    return default_cfg(seed=0, lr=3e-3, batch_size=64, epochs=12, patience=4)


@pytest.fixture(scope="module")
def results(tiny, cfg):
    data, info = tiny
    return {name: fn(data, info, 0, cfg) for name, fn in REGISTRY.items()}


def test_registry_is_table2_in_order():
    assert list(REGISTRY) == TABLE2
    assert set(KIND) == set(TABLE2)


@pytest.mark.parametrize("name", TABLE2)
def test_every_baseline_returns_finite_aligned_predictions(results, tiny, name):
    data, _ = tiny
    out = results[name]
    for s in ("val", "test"):
        assert out[s].shape == (len(data[s]["y"]),), (name, s, out[s].shape)
        assert np.isfinite(out[s]).all(), (name, s)
    assert out["seconds"] > 0
    assert np.ptp(out["test"]) > 0, f"{name} predicts a constant"


@pytest.mark.parametrize("name", NEURAL)
def test_neural_baselines_beat_the_mean_predictor(results, tiny, name):
    data, info = tiny
    y = data["test"]["y"].numpy()
    mse_mean = np.mean((y - info["label_mean"]) ** 2)
    mse = np.mean((results[name]["test"] - y) ** 2)
    assert mse < 0.8 * mse_mean, f"{name}: {mse:.3f} vs mean predictor {mse_mean:.3f}"


@pytest.mark.parametrize("name", ["SVR", "BLIP", "NIPA", "MFTM"])
def test_same_seed_same_predictions(results, tiny, cfg, name):
    data, info = tiny
    again = REGISTRY[name](data, info, 0, cfg)
    np.testing.assert_array_equal(again["test"], results[name]["test"])
    np.testing.assert_array_equal(again["val"], results[name]["val"])


def test_another_seed_changes_a_neural_baseline(results, tiny, cfg):
    data, info = tiny
    other = REGISTRY["BLIP"](data, info, 1, cfg)
    assert not np.array_equal(other["test"], results["BLIP"]["test"])


def test_cosine_retriever_excludes_the_query_itself():
    g = np.random.default_rng(0)
    bank = g.normal(size=(50, 8)).astype(np.float32)
    bank[7] = bank[3]                                   # an exact duplicate of another post
    r = CosineRetriever(bank)
    ids, sims = r.search(bank, 5, self_ids=np.arange(50))
    assert ids.shape == (50, 5)
    assert not (ids == np.arange(50)[:, None]).any()
    assert ids[3, 0] == 7 and ids[7, 0] == 3           # the duplicate is a neighbour, self is not
    assert np.all(np.diff(sims, axis=1) <= 1e-6)       # sorted by similarity
    ids_q, _ = r.search(bank[:3], 5)                   # without self_ids a post finds itself
    assert (ids_q[:, 0] == np.arange(3)).all()


def test_retrieval_baselines_never_retrieve_the_train_query(tiny):
    data, _ = tiny
    d = standardised(data)
    from smpp_utils.baselines import mmra, nipa
    for prep in (nipa.prepare, mmra.prepare, skapp.prepare):
        out = prep(d, data)
        nbr = out["train"]["nbr"].numpy()
        assert not (nbr == np.arange(len(nbr))[:, None]).any(), prep.__module__
        for s in ("val", "test"):
            assert out[s]["nbr"].shape[0] == len(data[s]["y"])
            assert out[s]["nbr"].max() < len(data["train"]["y"]) and out[s]["nbr"].min() >= 0


def test_skapp_meta_retriever_prefers_same_user(tiny):
    data, _ = tiny
    ids, feats = skapp.meta_retrieve(data)
    u_tr = data["train"]["user"].numpy()
    u_q = data["test"]["user"].numpy()
    same = (u_tr[ids["test"]] == u_q[:, None])[u_q > 0].mean()
    base = np.mean([(u_tr == u).mean() for u in u_q[u_q > 0]])
    assert same > 3 * base                              # the user bonus pulls in the user's posts
    assert np.array_equal(feats["test"][..., 2], (u_tr[ids["test"]] == u_q[:, None]) & (u_q[:, None] > 0))


def test_not_run_carries_its_reason(tiny, cfg):
    data, info = tiny
    no_tags = {s: dict(data[s], tags=torch.zeros_like(data[s]["tags"])) for s in data}
    with pytest.raises(NotRun) as e:
        REGISTRY["CLSTM"](no_tags, info, 0, cfg)
    assert "tag" in e.value.reason and str(e.value) == e.value.reason
    no_img = {s: dict(data[s], img=data[s]["img"][:, :0]) for s in data}
    with pytest.raises(NotRun, match="image"):
        REGISTRY["DLBA"](no_img, info, 0, cfg)


def test_missing_split_is_named(tiny, cfg):
    data, info = tiny
    with pytest.raises(KeyError, match="test"):
        REGISTRY["SVR"]({"train": data["train"], "val": data["val"]}, info, 0, cfg)


def test_synthetic_inputs_have_the_build_inputs_shape(tiny):
    data, info = tiny
    u_train = data["train"]["user"].numpy()
    assert set(np.unique(u_train)) == set(range(1, info["n_users"]))   # train users are 1..U
    for s in ("val", "test"):
        u = data[s]["user"].numpy()
        assert set(u[u > 0]) <= set(u_train)                           # unseen users map to 0
        assert len(info["pids"][s]) == len(data[s]["y"])
    assert not set(info["pids"]["train"]) & set(info["pids"]["test"])
    assert {"fingerprint", "pids", "scheme", "dims", "n_users", "n_tags", "n_cats",
            "label_mean"} <= set(info)
    assert info["dims"] == {k: data["train"][k].shape[1] for k in ("img", "txt", "meta")}


def test_skapp_meta_cosine_reads_the_label_free_context(tiny):
    # the candidates' `meta` carries their out-of-fold user mean (it can hold the query's own
    # label when they share a user); SKAPP's meta term must read `meta_ctx`, so scrambling the
    # label-derived `meta` changes nothing once `meta_ctx` is given
    data, _ = tiny
    g = np.random.default_rng(0)
    with_ctx = {s: {**d, "meta_ctx": d["meta"].clone()} for s, d in data.items()}
    scrambled = {s: {**d, "meta": torch.from_numpy(g.normal(size=tuple(d["meta"].shape)).astype(np.float32))}
                 for s, d in with_ctx.items()}
    ids_a, feats_a = skapp.meta_retrieve(with_ctx)
    ids_b, feats_b = skapp.meta_retrieve(scrambled)
    for s in ids_a:
        assert np.array_equal(ids_a[s], ids_b[s]) and np.array_equal(feats_a[s], feats_b[s])
    ids_c, _ = skapp.meta_retrieve({s: {k: v for k, v in d.items() if k != "meta_ctx"}
                                    for s, d in scrambled.items()})
    assert any(not np.array_equal(ids_a[s], ids_c[s]) for s in ids_a)   # control: meta does matter
