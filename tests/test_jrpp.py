"""JRPP: MoL (Eq. 4-5), retrieval, Gumbel filter (Eq. 7), IB (Eq. 8-13), TTA (Eq. 14-15),
resume == continuous, a tiny end-to-end fit, error messages, the feature-package converter
and Table 2."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from smpp_utils.jrpp import JRPP, JRPPConfig
from smpp_utils.jrpp.filter import gumbel_topk
from smpp_utils.jrpp.ib import InformationBottleneck, kl_std_normal
from smpp_utils.jrpp.mol import MixtureOfLogits
from smpp_utils.jrpp.retrieval import build_index, shortlist
from smpp_utils.jrpp.tta import combine, tta_weights
from smpp_utils.data.synthetic import make_synthetic
from smpp_utils.core.trainer import TrainConfig, Trainer, predict

torch.set_num_threads(1)
SMALL = dict(proj_dim=32, n_mol=4, mol_dim=16, shortlist=12, k=6, n_layers=1, n_heads=2, d_model=16)


@pytest.fixture(scope="module")
def syn():
    return make_synthetic(400, 60, 60, di=16, dt=12, dm=3, n_users=30, seed=3)


def make_model(info, bank, **kw):
    return JRPP(info["dims"], info["n_users"], info["label_mean"], JRPPConfig(**{**SMALL, **kw}), bank=bank)


# ---------------------------------------------------------------------------- MoL
def test_mol_score_range_gates_and_gradients():
    torch.manual_seed(0)
    mol = MixtureOfLogits(in_dim=10, n_mol=5, mol_dim=8, n_users=7)
    xq, xr = torch.randn(3, 10), torch.randn(3, 4, 10)
    uq, ur = torch.tensor([1, 0, 6]), torch.randint(0, 7, (3, 4))
    qc, rc = mol.query_components(xq, uq), mol.item_components(xr, ur)
    assert qc.shape == (3, 5, 8) and rc.shape == (3, 4, 5, 8)
    s, w, cos = mol.score(qc, mol.query_summary(xq), rc, mol.item_summary(xr))
    assert s.shape == (3, 4) and w.shape == cos.shape == (3, 4, 5)
    assert ((w >= 0) & (w <= 1)).all()
    assert (s.abs() <= w.sum(-1) + 1e-6).all()
    assert (cos.abs() <= 1 + 1e-6).all()
    assert torch.all(cos[1, :, -1] == 0)              # unseen user (0) -> zero user component
    s.sum().backward()
    assert mol.f.weight.grad.abs().sum() > 0 and mol.g.weight.grad.abs().sum() > 0
    # brute force over a shared bank equals the gathered score
    bank = torch.randn(6, 10)
    rcb, rsb = mol.item_components(bank, torch.arange(6)), mol.item_summary(bank)
    full = mol.score_bank(qc, mol.query_summary(xq), rcb, rsb)
    idx = torch.tensor([[0, 3], [1, 5], [2, 4]])
    s2, _, _ = mol.score(qc, mol.query_summary(xq), rcb[idx], rsb[idx])
    torch.testing.assert_close(full.gather(1, idx), s2.detach())
    # concat shortlist vectors: inner product = mean of the cosines
    v_q, v_r = mol.shortlist_vectors(qc), mol.shortlist_vectors(rcb)
    torch.testing.assert_close(v_q @ v_r.T, torch.einsum("bmd,nmd->bnm", qc, rcb).mean(-1))


# ---------------------------------------------------------------------------- retrieval
def test_shortlist_excludes_self_and_errors():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    index = build_index(emb, "flat")
    ids = shortlist(index, emb[:10], 5, exclude=np.arange(10))
    assert ids.shape == (10, 5)
    assert not (ids == np.arange(10)[:, None]).any()
    assert len(set(ids[0])) == 5
    ids_no = shortlist(index, emb[:3], 5)              # non-bank queries: nearest = itself
    assert (ids_no[:, 0] == np.arange(3)).all()
    with pytest.raises(ValueError, match="bank is empty"):
        build_index(np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError, match="bank holds 30 posts"):
        shortlist(index, emb[:2], 30, exclude=np.array([0, 1]))
    bad = emb.copy(); bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN/inf.*bank position 4"):
        build_index(bad)
    with pytest.raises(ValueError, match="NaN/inf in the query"):
        shortlist(index, bad[3:5], 3)


def test_model_never_retrieves_itself(syn):
    data, info = syn
    m = make_model(info, data["train"], filter=False, ib=False)
    b = {k: v[:40] for k, v in data["train"].items()}
    m.on_epoch_start(0)
    xq = m.encode(b)
    state = m.bank_index("train")
    qv = m.mol.shortlist_vectors(m.mol.query_components(xq, b["user"]).detach()).numpy()
    ids = shortlist(state.index, qv, SMALL["shortlist"], b["idx"].numpy(), state.size)
    assert not (ids == b["idx"].numpy()[:, None]).any()
    cand, scores = m._retrieve(b, xq, b["idx"], "train")
    assert cand.shape == (40, SMALL["k"], SMALL["proj_dim"] + 1) and scores.shape == (40, SMALL["k"])


def test_model_errors(syn):
    data, info = syn
    empty = {k: v[:0] for k, v in data["train"].items()}
    with pytest.raises(ValueError, match="empty"):
        make_model(info, empty)
    tiny = {k: v[:5] for k, v in data["train"].items()}
    with pytest.raises(ValueError, match=r"k=6 items requested but the bank holds 5"):
        make_model(info, tiny)
    bad = {k: v.clone() for k, v in data["train"].items()}
    bad["img"][7, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf at bank position 7"):
        make_model(info, bad)


# ---------------------------------------------------------------------------- Gumbel filter
def test_gumbel_topk_shape_st_gradient_determinism_distinct():
    torch.manual_seed(0)
    logits = torch.randn(4, 10, requires_grad=True)
    g = torch.Generator().manual_seed(1)
    S = gumbel_topk(logits, 8, tau=0.5, hard=True, noise=True, generator=g)
    assert S.shape == (4, 8, 10)
    assert torch.allclose(S.detach().sum(-1), torch.ones(4, 8))        # one-hot rows forward
    picks = S.detach().argmax(-1)
    assert all(len(set(r.tolist())) == 8 for r in picks)                # rows distinct
    (S * torch.randn(4, 8, 10)).sum().backward()
    assert logits.grad.abs().sum() > 0                                   # straight-through grad
    e1 = gumbel_topk(logits.detach(), 3, noise=False)
    e2 = gumbel_topk(logits.detach(), 3, noise=False)
    assert torch.equal(e1, e2)
    top3 = logits.detach().topk(3).indices
    assert torch.equal(e1.argmax(-1), top3)                              # eval = top-k'
    with pytest.raises(ValueError, match="k'=11"):
        gumbel_topk(logits, 11)


# ---------------------------------------------------------------------------- IB
def test_kl_nonnegative_and_zero_at_prior():
    mu, lv = torch.zeros(3, 4, 5), torch.zeros(3, 4, 5)
    assert float(kl_std_normal(mu, lv)) == 0.0
    torch.manual_seed(0)
    assert float(kl_std_normal(torch.randn(3, 4, 5), torch.randn(3, 4, 5))) > 0
    # hand-checked: mu=1, logvar=0 on one dim -> 0.5; summed over 2 posts x 1 dim, batch 1
    assert math.isclose(float(kl_std_normal(torch.ones(1, 2, 1), torch.zeros(1, 2, 1))), 1.0)
    ib = InformationBottleneck(6, 4, 3)
    ib.eval()
    z1, _ = ib(torch.randn(2, 5, 6), torch.randn(2, 4))
    assert z1.shape == (2, 5, 3)


# ---------------------------------------------------------------------------- TTA
def test_tta_weights_by_hand():
    x = torch.tensor([[1.0, 0.0]])
    xt = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]]])   # cos = 1, 1/sqrt2, 0
    w = tta_weights(x, xt, eps=0.1)
    # by hand: 1/(1-1+0.1)=10; 1/(1-0.70710678+0.1)=1/0.39289322=2.54522; 1/(1-0+0.1)=0.90909
    torch.testing.assert_close(w[:, 0], torch.tensor([10.0, 2.5452208, 0.9090909]))
    p = combine(torch.tensor([[1.0], [2.0], [4.0]]), w)
    # (10*1 + 2.54522*2 + 0.90909*4) / 13.45431 = 18.72681 / 13.45431 = 1.39188
    torch.testing.assert_close(p, torch.tensor([1.3918813]))


# ---------------------------------------------------------------------------- training
def _fit(model, data, epochs, ckpt, stop_after=None, seed=5):
    tr = Trainer(model, TrainConfig(epochs=epochs, lr=3e-3, batch_size=100, seed=seed, patience=50),
                 ckpt, progress=False)
    tr.fit(data["train"], data["val"], stop_after=stop_after)
    return tr


def test_resume_equals_continuous(syn, tmp_path):
    data, info = syn
    torch.manual_seed(0)
    a = make_model(info, data["train"])
    _fit(a, data, 2, tmp_path / "a")
    torch.manual_seed(0)
    b = make_model(info, data["train"])
    _fit(b, data, 2, tmp_path / "b", stop_after=1)
    torch.manual_seed(123)                              # a fresh process: other init and RNG
    c = make_model(info, data["train"])
    tr = _fit(c, data, 2, tmp_path / "b")
    assert tr.epoch == 2
    for (n, pa), (_, pc) in zip(a.state_dict().items(), c.state_dict().items()):
        torch.testing.assert_close(pa, pc, msg=f"parameter {n} differs after resume")


def test_end_to_end_beats_mean(syn):
    data, info = syn
    torch.manual_seed(0)
    m = make_model(info, data["train"])
    _fit(m, data, 12, None)
    p = predict(m, data["test"])
    y = data["test"]["y"].numpy()
    assert np.isfinite(p).all()
    assert ((p - y) ** 2).mean() < 0.8 * ((y - info["label_mean"]) ** 2).mean()


@pytest.mark.parametrize("kw", [dict(retrieval=False), dict(mol=False), dict(filter=False, ib=False)])
def test_ablations_train(syn, kw):
    data, info = syn
    torch.manual_seed(0)
    m = make_model(info, data["train"], **kw)
    b = {k: v[:50] for k, v in data["train"].items()}
    loss = m.training_loss(b)
    loss.backward()
    assert torch.isfinite(loss)
    assert predict(m, data["val"]).shape == (60,)


# ---------------------------------------------------------------------------- converter
def _package(tmp_path, fmt):
    rng = np.random.default_rng(0)
    d = tmp_path / f"pkg_{fmt}"
    d.mkdir()
    for split, n in (("train", 5), ("valid", 2), ("test", 2)):
        df = pd.DataFrame({"image_id": [f"{split}{i}" for i in range(n)],
                           "user_id": rng.integers(0, 3, n), "label": rng.normal(size=n),
                           "cls_vec": list(rng.normal(size=(n, 768)).astype(np.float32)),
                           "merged_text_vec": list(rng.normal(size=(n, 768)).astype(np.float32))})
        if fmt == "pkl":
            df.to_pickle(d / f"{split}.pkl")
        else:
            for c in ("cls_vec", "merged_text_vec"):
                df[c] = ["[" + ", ".join(f"{x:.5f}" for x in v) + "]" for v in df[c]]
            df.to_csv(d / f"{split}.csv", index=False)
    return d


def test_convert_package(tmp_path):
    from smpp_utils.core.io import load_arrays, read_parquet
    from smpp_utils.jrpp.convert import convert, main

    pkl = _package(tmp_path, "pkl")
    with pytest.raises(PermissionError, match="--trust-pickle"):
        convert(pkl, tmp_path / "out")
    assert not (tmp_path / "out" / "posts.parquet").exists()
    assert main([str(pkl), str(tmp_path / "out"), "--trust-pickle"]) == 0
    posts, meta = read_parquet(tmp_path / "out" / "posts.parquet")
    assert posts["split"].value_counts().to_dict() == {"train": 5, "val": 2, "test": 2}
    pids, arr, ameta = load_arrays(tmp_path / "out" / "emb" / "package.npz", meta["fingerprint"])
    assert arr["image"].shape == (9, 768) and arr["text"].shape == (9, 768)
    assert (pids == posts["Pid"].to_numpy()).all()
    info = convert(_package(tmp_path, "csv"), tmp_path / "out_csv")
    assert info["n"] == 9 and info["dims"] == {"image": 768, "text": 768}


# ---------------------------------------------------------------------------- Table 2
def test_table2_marks_and_not_run(tmp_path):
    from smpp_utils.jrpp.report import build_table2

    results = {"SVR": [{"mse": 2.0, "mae": 1.0, "src": 0.5}, {"mse": 2.2, "mae": 1.1, "src": 0.4}],
               "HyFea": [{"mse": 1.5, "mae": 0.9, "src": 0.6}],
               "MFTM": "needs LightGBM",
               "JRPP": [{"mse": 1.0, "mae": 0.8, "src": 0.7}, {"mse": 1.2, "mae": 0.8, "src": 0.7}]}
    md, tex, csv = build_table2(results, oracle={"mse": 0.5, "mae": 0.5, "src": 0.9})
    row = md.set_index("Model")
    assert row.loc["JRPP", "MSE"].startswith("**1.1000")
    assert row.loc["HyFea", "MSE"].startswith("<u>1.5000")
    assert row.loc["JRPP", "SRC"].startswith("**0.7000")
    assert "not run" in row.loc["MFTM", "MSE"] and "LightGBM" in row.loc["MFTM", "Note"]
    assert "not run" in row.loc["CLSTM", "MSE"]
    assert md["Model"].iloc[-1].startswith("Oracle")
    assert "\\textbf{1.1000" in tex.set_index("Model").loc["JRPP", "MSE"]
    assert csv.set_index("Model").loc["SVR", "mse_mean"] == pytest.approx(2.1)


# ---------------------------------------------------------------------------- label leak
def _posts_frame(n=160, n_users=12, seed=0):
    rng = np.random.default_rng(seed)
    date = pd.to_datetime(np.sort(rng.integers(0, 10**8, n)), unit="s", utc=True)
    split = np.array(["train"] * int(0.75 * n) + ["val"] * (n // 8) + ["test"] * (n - int(0.75 * n) - n // 8))
    return pd.DataFrame({
        "Pid": np.arange(1, n + 1), "Uid": rng.integers(0, n_users, n).astype(str),
        "label": rng.normal(6, 2, n), "split": split, "postdate": date,
        "photo_firstdate": date - pd.Timedelta(days=30), "photo_count": rng.integers(1, 500, n),
        "ispro": rng.integers(0, 2, n), "canbuypro": rng.integers(0, 2, n), "title": "sunset",
        "tags": "a b", "latitude": np.nan, "geoaccuracy": 0, "mediatype": "photo",
        "category": "Animal", "subcategory": "Cats"})


def test_no_second_order_label_leak():
    """Perturb one train label: that post's own training input (its features, the ids it
    retrieves, and everything the retrieved candidates carry) must not change. Control: a
    bank whose candidates carry the out-of-fold user mean (the old code) does change."""
    from smpp_utils.data.inputs import assemble_inputs

    posts = _posts_frame()
    rng = np.random.default_rng(1)
    img, txt = rng.normal(size=(len(posts), 8)).astype(np.float32), rng.normal(size=(len(posts), 6)).astype(np.float32)
    d1, i1 = assemble_inputs(posts, "fp", img, txt, True, 3, 0)
    train_pos = np.flatnonzero(posts["split"] == "train")
    q = 5                                                  # a train post (bank position 5)
    row = train_pos[q]
    same_user = np.flatnonzero(posts["Uid"].iloc[train_pos].to_numpy() == posts["Uid"].iloc[row])
    assert len(same_user) >= 5                             # the query shares a user with neighbours
    p2 = posts.copy()
    p2.loc[row, "label"] += 7.0
    d2, i2 = assemble_inputs(p2, "fp", img, txt, True, 3, 0, norm=i1["meta_norm"])
    for key in ("img", "txt", "meta", "user"):
        assert torch.equal(d1["train"][key][q], d2["train"][key][q]), key      # own features
    # the plain OOF metadata of the user's other posts does read y_q (the leak's source)
    assert not torch.equal(d1["train"]["meta"][same_user], d2["train"]["meta"][same_user])

    cfg = dict(SMALL, shortlist=60, k=40, use_user=True)

    def view(train):
        torch.manual_seed(0)
        m = JRPP(i1["dims"], i1["n_users"], i1["label_mean"], JRPPConfig(**cfg), bank=train)
        m.label_std = 1.0                                  # global normaliser held fixed
        m.on_epoch_start(0)
        b = {k: v[q:q + 1] for k, v in train.items()}
        xq = m.encode(b)
        cand, scores = m._retrieve(b, xq, b["idx"], "train")
        state = m.bank_index("train")
        qv = m.mol.shortlist_vectors(m.mol.query_components(xq, b["user"]).detach()).numpy()
        ids = shortlist(state.index, qv, cfg["shortlist"], b["idx"].numpy(), state.size)
        return xq.detach(), cand.detach(), scores.detach(), ids

    a, b = view(d1["train"]), view(d2["train"])
    assert np.isin(same_user, a[3]).sum() >= 2             # same-user posts are retrieved
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    # control: without meta_ctx the candidates carry the OOF user mean, which reads y_q
    old1 = {k: v for k, v in d1["train"].items() if k != "meta_ctx"}
    old2 = {k: v for k, v in d2["train"].items() if k != "meta_ctx"}
    c1, c2 = view(old1), view(old2)
    assert not torch.equal(c1[1], c2[1])


# ---------------------------------------------------------------------------- TTA (Eq. 14-15)
class _Linear(torch.nn.Module):
    """Stub model: prediction = sum of the img and txt entries (no retrieval)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def predict(self, batch):
        return self.w * (batch["img"].sum(-1) + batch["txt"].sum(-1))


def test_predict_tta_follows_eq14_15():
    from smpp_utils.jrpp.tta import perturb, predict_tta

    data = {"img": torch.tensor([[3.0, 4.0]]), "txt": torch.tensor([[0.0]]), "y": torch.zeros(1)}
    out = predict_tta(_Linear(), data, T=2, scales=[0.5, 1.0], seed=11)
    # redo Eq. 14-15 by hand from the same noise draws
    g = torch.Generator().manual_seed(11)
    x = torch.tensor([[3.0, 4.0, 0.0]])                   # ||x|| = 5
    xs = [perturb(x, s, g) for s in (0.5, 1.0)]
    preds = [float(v.sum()) for v in xs]
    cos = [float((x * v).sum() / (x.norm() * v.norm())) for v in xs]
    w = [1.0 / (1.0 - c + 1e-6) for c in cos]
    expect = (w[0] * preds[0] + w[1] * preds[1]) / (w[0] + w[1])
    assert out[0] == pytest.approx(expect, rel=1e-5)
    assert abs(out[0] - 7.0) > 1e-3                        # the noise did move it


def test_tta_changes_predictions_at_the_chosen_scale(syn):
    from smpp_utils.jrpp.tta import choose_scale, predict_tta

    data, info = syn
    torch.manual_seed(0)
    m = make_model(info, data["train"])
    _fit(m, data, 6, None)
    plain = predict(m, data["test"])
    ch = choose_scale(m, data["val"], 4, "0.1,0.2,0.3", "0.5,1,2,4", seed=0)
    assert ch["multiplier"] in (0.5, 1.0, 2.0, 4.0) and set(ch["val_mse"]) == {0.5, 1.0, 2.0, 4.0}
    assert ch["val_mse"][ch["multiplier"]] == min(ch["val_mse"].values())
    change = np.abs(predict_tta(m, data["test"], 4, ch["scales"], seed=0) - plain).mean()
    old = np.abs(predict_tta(m, data["test"], 4, "0.01,0.03,0.1", seed=0) - plain).mean()
    assert change > 0.01 * plain.std()                     # not a no-op
    assert change > 3 * old                                # the first version's scales were


def test_retriever_trained_without_attention_bias(syn):
    """attn_bias off (the default since it worsened the fit): the MoL towers still get the
    prediction loss's gradient (through the Gumbel scorer and the candidates)."""
    data, info = syn
    torch.manual_seed(0)
    m = make_model(info, data["train"])
    assert not m.cfg.attn_bias
    b = {k: v[:50] for k, v in data["train"].items()}
    m.training_loss(b).backward()
    assert m.mol.f.weight.grad.abs().sum() > 0 and m.mol.g.weight.grad.abs().sum() > 0
    assert m.agg.bias_scale.grad is None                  # the bias path is not used
