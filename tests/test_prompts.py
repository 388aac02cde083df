"""Paper A stage 1: prompt learner, cross-modal projection, CLIPFT export, direct regression.
Runs on a micro CLIP (a 1-layer variant of smpp-vit-tiny, random init, so the suite stays
fast on 2 CPU cores) and random prototypes; the tower plumbing is also checked on
smpp-vit-tiny itself."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from smpp_utils.paper_a import direct, prompts
from smpp_utils.core.io import load_arrays, read_parquet

K, C, D, DT = 77, 11, 64, 384
IMG = 32
MICRO = {"embed_dim": D,
         "vision_cfg": {"image_size": IMG, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
         "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module", autouse=True)
def _register_configs(tmp_path_factory):
    import json

    import open_clip

    from smpp_utils.embed.encoders import register_project_models
    register_project_models()
    d = tmp_path_factory.mktemp("clipcfg")
    (d / "smpp-test-micro.json").write_text(json.dumps(MICRO))
    open_clip.add_model_config(d)


def _clip(seed=0, name="smpp-test-micro"):
    import open_clip
    torch.manual_seed(seed)
    return open_clip.create_model(name), open_clip.get_tokenizer(name)


@pytest.fixture(scope="module")
def bank():
    return prompts.random_bank(K, C, D, DT, seed=1)


def _model(bank, freeze=False, seed=0, **kw):
    clip, tok = _clip(seed)
    return prompts.PromptCLIP(clip, tok, bank, global_ctx=16, local_ctx=8, attn_heads=4,
                              freeze_backbone=freeze, **kw)


def _batch(n=8, seed=0, tok=None):
    g = torch.Generator().manual_seed(seed)
    b = {"images": torch.randn(n, 3, IMG, IMG, generator=g),
         "label": torch.randint(0, K, (n,), generator=g)}
    if tok is not None:
        b["text"] = tok([f"post {i} tag{i % 3}" for i in range(n)])
    return b


@pytest.mark.parametrize("name", ["smpp-vit-tiny", "smpp-test-micro"])
def test_text_and_image_paths_match_open_clip(name):
    """Driving the towers with embeddings gives open_clip's own features (EOT pooling)."""
    clip, tok = _clip(name=name)
    dim = clip.visual.output_dim
    size = clip.visual.image_size[0]
    clip.eval()
    toks = tok(["a photo of cats", "good morning sunshine"])
    with torch.no_grad():
        emb = clip.token_embedding(toks)
        out = prompts.text_tower_tokens(clip, emb)
        ours = out[torch.arange(2), toks.argmax(-1)]
        torch.testing.assert_close(ours, clip.encode_text(toks), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(prompts.encode_text_trimmed(clip, toks), clip.encode_text(toks),
                                   rtol=1e-4, atol=1e-5)
        imgs = torch.randn(3, 3, size, size)
        pooled, tokens = prompts.image_tower_tokens(clip, imgs)
        clip.visual.output_tokens = False
        torch.testing.assert_close(pooled, clip.encode_image(imgs), rtol=1e-4, atol=1e-5)
    assert tokens.shape == (3, prompts.num_patches(clip), dim)


def test_shapes(bank):
    m = _model(bank).eval()
    b = _batch(5)
    with torch.no_grad():
        out = m(b["images"])
        x, patches = m.encode_images(b["images"])
        local = m.local_prompts.scores(patches, m.class_texts()[1])
    for k in ("logits_global", "logits_local", "logits_enh", "logits"):
        assert out[k].shape == (5, K), k
    for k in ("image", "global", "local", "enhanced"):
        assert out[k].shape == (5, D), k
    assert local.shape == (5, K) and local.abs().max() <= 1 + 1e-5   # weighted cosines
    assert m.class_texts()[0].shape == (K, D)
    assert torch.allclose(m.local_prompts.spatial_weights().sum(), torch.tensor(1.0))
    # the prototype set of Eq. 6: every subcategory and category prototype, both modalities
    assert m.cross_modal.prototypes().shape == (2 * K + 2 * C, D)


def _head_outputs(model):
    """Record every output of the enhanced-feature head (the logits the loss and the
    features use) - works whatever the forward's signature."""
    seen = []
    model.head.register_forward_hook(lambda mod, inp, out: seen.append(out.detach().clone()))
    return seen


def test_enhanced_branch_sees_no_label(bank):
    """Issue 9: the training forward must be the inference forward. Changing the labels
    must not change the enhanced logits of the training pass, and the training pass
    (train mode) must give the logits that feature extraction (eval mode) gives."""
    m = _model(bank, freeze=True)
    seen = _head_outputs(m)
    b = _batch(6, seed=2)
    b["images"] = b["images"].half().float()        # what the float16 image cache holds
    m.train()
    m.loss_parts(b)
    m.loss_parts({**b, "label": (b["label"] + 1) % K})
    torch.testing.assert_close(seen[0], seen[1], rtol=0, atol=0)
    ib = prompts.ImageBank.from_tensor(b["images"])
    _, tok = _clip()
    text = tok([f"p{i}" for i in range(6)])
    a1 = prompts.extract(m, ib, text, b["label"].numpy(), progress=False)
    a2 = prompts.extract(m, ib, text, ((b["label"] + 5) % K).numpy(), progress=False)
    torch.testing.assert_close(seen[2], seen[0], rtol=1e-5, atol=1e-5)   # extraction = training
    for k in prompts.FEATURE_BLOCKS:
        np.testing.assert_array_equal(a1[k], a2[k], err_msg=k)   # features ignore labels
    assert not np.array_equal(a1["cls_loss"], a2["cls_loss"])     # only the loss reads them


def test_train_and_eval_forward_agree_exactly(bank):
    m = _model(bank, freeze=True)
    seen = _head_outputs(m)
    b = _batch(4, seed=9)
    m.train()
    m.loss_parts(b)                      # the training pass (labels in the batch)
    m.eval()
    with torch.no_grad():
        m(b["images"])                   # the inference pass
    torch.testing.assert_close(seen[0], seen[1], rtol=1e-6, atol=1e-6)


def test_frozen_backbone_gets_no_gradient(bank):
    m = _model(bank, freeze=True)
    clip, tok = _clip()
    parts = m.loss_parts(_batch(6, tok=tok))
    assert "contrastive" not in parts            # no trainable input with a frozen backbone
    parts["total"].backward()
    for name, p in m.clip.named_parameters():
        assert p.grad is None, name
    learnable = ["global_prompts.ctx", "local_prompts.ctx", "local_prompts.spatial",
                 "cross_modal.type_embed", "head.weight", "cross_modal.attn.in_proj_weight",
                 "cross_modal.attn.out_proj.weight", "cross_modal.proj_t.weight"]
    named = dict(m.named_parameters())
    for name in learnable:
        g = named[name].grad
        assert g is not None and g.abs().sum() > 0, name
    assert {n for n, p in named.items() if p.requires_grad} \
        == {n for n in named if not n.startswith("clip.")}


@pytest.mark.parametrize("branch", ["global", "local", "noproto"])
def test_retrained_branch_loss_trains_only_that_branch(bank, branch):
    """Notebook 10's retrained rows (branch_retrain.BRANCH_MODEL): with one branch's loss only
    (or without the prototype branch's), the dropped parts get exactly zero gradient and the
    kept ones a nonzero one."""
    from smpp_utils.paper_a.branch_retrain import BRANCH_MODEL

    m = _model(bank, freeze=True, **BRANCH_MODEL[branch])
    clip, tok = _clip()
    m.loss_parts(_batch(6, tok=tok))["total"].backward()
    named = dict(m.named_parameters())
    glob, loc = ["global_prompts.ctx"], ["local_prompts.ctx", "local_prompts.spatial"]
    proto = ["cross_modal.type_embed", "cross_modal.attn.in_proj_weight", "head.weight"]
    own, other = {"global": (glob + proto, loc), "local": (loc, glob + proto),
                  "noproto": (glob + loc, proto)}[branch]
    for name in own:
        assert named[name].grad.abs().sum() > 0, name
    for name in other:
        assert named[name].grad.abs().sum() == 0, name


def test_prototype_term_shares_the_global_weight_unless_set(bank):
    """L = w_g CE_global + w_e CE_enh + w_l CE_local (frozen: no contrastive term), w_e = w_g
    by default (stage 03)."""
    _, tok = _clip()
    b = _batch(6, tok=tok)
    for kw, (wg, we, wl) in (({"w_global": 2.0, "w_local": 0.5}, (2.0, 2.0, 0.5)),
                             ({"w_global": 2.0, "w_local": 0.5, "w_enhanced": 0.25}, (2.0, 0.25, 0.5))):
        parts = _model(bank, freeze=True, **kw).loss_parts(b)
        expect = wg * parts["global"] + we * parts["enhanced"] + wl * parts["local"]
        assert torch.allclose(parts["total"], expect, rtol=0, atol=1e-6), kw


def test_raw_text_replaces_the_textual_prototypes(bank):
    """The retrained raw-tags row (branch_retrain 'rawtags'): the cross-attention set is
    [x; V; own text; Vc] - the post's raw-text embedding is read, the textual prototypes not."""
    import dataclasses
    b = _batch(6, seed=5)
    g = torch.Generator().manual_seed(9)
    t1, t2 = torch.randn(6, DT, generator=g), torch.randn(6, DT, generator=g)
    other = dataclasses.replace(bank, textual=np.asarray(bank.textual)[::-1] + 1.0,
                                cat_textual=np.asarray(bank.cat_textual) * -1.0)
    m, m_other = (_model(bk, freeze=True, seed=3, raw_text=True).eval() for bk in (bank, other))
    with torch.no_grad():
        x = m.encode_images(b["images"])[0]
        assert m.cross_modal.members(x, t1).shape == (6, 1 + K + 1 + C, D)
        e1, e1_other = m(b["images"], raw_text=t1)["enhanced"], m_other(b["images"], raw_text=t1)["enhanced"]
        e2 = m(b["images"], raw_text=t2)["enhanced"]
    torch.testing.assert_close(e1, e1_other, rtol=0, atol=0)       # textual prototypes unread
    assert not torch.allclose(e1, e2)                                # the post's own text is read
    loss = m.train().loss_parts({**b, "raw_text": t1})["total"]     # the training pass reads it too
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="own_text needs"):
        m(b["images"])
    with pytest.raises(ValueError, match="only read with own_text"):
        _model(bank, freeze=True)(b["images"], raw_text=t1)
    with pytest.raises(ValueError, match="textual prototypes' width"):
        m(b["images"], raw_text=torch.zeros(6, DT + 1))
    ib = prompts.ImageBank.from_tensor(b["images"])
    _, tok = _clip()
    text = tok([f"p{i}" for i in range(6)])
    a1, a2 = (prompts.extract(m, ib, text, b["label"].numpy(), raw_text=t, progress=False) for t in (t1, t2))
    np.testing.assert_array_equal(a1["image"], a2["image"])
    assert not np.allclose(a1["enhanced"], a2["enhanced"])            # extraction passes it through


def test_loss_falls_on_fixed_batch(bank):
    m = _model(bank)
    _, tok = _clip()
    b = _batch(16, seed=3, tok=tok)
    ib = prompts.ImageBank.from_tensor(b["images"])
    rows = {"label": b["label"], "text": b["text"]}
    hist = prompts.fit_loop(m, ib, rows, np.arange(16), epochs=20, lr=1e-3, weight_decay=1e-5,
                            batch_size=16, device=torch.device("cpu"), seed=0, progress=False)
    assert len(hist.loss) == 20 and all(math.isfinite(v) for v in hist.loss)
    assert hist.loss[-1] < 0.6 * hist.loss[0], hist.loss
    assert set(hist.parts[0]) == {"global", "enhanced", "local", "contrastive", "total"}


def _train_and_extract(bank, seed, n=12):
    m = _model(bank, seed=seed)
    _, tok = _clip()
    b = _batch(n, seed=5, tok=tok)
    ib = prompts.ImageBank.from_tensor(b["images"])
    prompts.fit_loop(m, ib, {"label": b["label"], "text": b["text"]}, np.arange(n), epochs=2,
                     lr=1e-3, weight_decay=1e-5, batch_size=6, device=torch.device("cpu"),
                     seed=seed, progress=False)
    return m, ib, b


def test_export_aligned_and_deterministic(bank, tmp_path):
    m1, ib, b = _train_and_extract(bank, seed=4)
    m2, _, _ = _train_and_extract(bank, seed=4)
    a1 = prompts.extract(m1, ib, b["text"], b["label"].numpy(), batch_size=5, progress=False)
    a2 = prompts.extract(m2, ib, b["text"], b["label"].numpy(), batch_size=5, progress=False)
    for k in prompts.FEATURE_BLOCKS + ("cls_loss",):
        np.testing.assert_array_equal(a1[k], a2[k], err_msg=k)
    # order follows idx: a permuted extraction is the permutation of the full one
    perm = np.random.default_rng(0).permutation(12)
    ap = prompts.extract(m1, ib, b["text"], b["label"].numpy(), idx=perm, batch_size=5, progress=False)
    np.testing.assert_allclose(ap["enhanced"], a1["enhanced"][perm], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a1["probs"].sum(1), 1, rtol=1e-5)
    F = prompts.clipft_matrix(a1)
    assert F.shape == (12, 5 * D + K)
    pids = np.arange(100, 112)[::-1]                       # any Pid order is kept
    path = tmp_path / "clipft.npz"
    prompts.export_clipft(path, pids, a1, "fp123")
    got_pids, arrays, meta = load_arrays(path, expect_fingerprint="fp123", pids=pids[::-1])
    np.testing.assert_array_equal(arrays["enhanced"], a1["enhanced"][::-1])
    assert meta["blocks"] == list(prompts.FEATURE_BLOCKS) and arrays["cls_loss"].shape == (12,)
    with pytest.raises(ValueError, match="11 Pids"):
        prompts.export_clipft(tmp_path / "bad.npz", pids[:11], a1, "fp123")
    assert not (tmp_path / "bad.npz").exists()


def test_unseen_class_handling(bank):
    labels = bank.labels(["class0", "class76", "Never-Seen"])
    np.testing.assert_array_equal(labels, [0, 76, -1])
    probs = np.zeros((3, K))
    probs[0, 0] = probs[1, 5] = probs[2, 3] = 1.0
    assert prompts.topk_accuracy(probs, labels, 1) == pytest.approx(1 / 3)   # unseen = miss
    metrics, table = prompts.accuracy_report(
        probs, labels, np.array(["test"] * 3), np.array(["cat0", "cat1", "cat2"]),
        seen_train={"class0"}, class_names=bank.class_names)
    assert metrics["n_unseen_test"] == 1 and metrics["n_no_train_posts_test"] == 1
    assert metrics["test_top1"] == pytest.approx(1 / 3)
    assert list(table["category"]) == ["cat0", "cat1", "cat2", "all"]
    # unseen posts get CE to the uniform distribution (>= log K); training refuses them
    m = _model(bank).eval()
    _, tok = _clip()
    b = _batch(3, tok=tok)
    ib = prompts.ImageBank.from_tensor(b["images"])
    a = prompts.extract(m, ib, b["text"], labels, progress=False)
    assert a["cls_loss"][2] >= math.log(K) - 1e-4
    assert a["cls_loss"][0] == pytest.approx(-math.log(a["probs"][0, 0]), rel=1e-4)
    with pytest.raises(ValueError, match="known classes"):
        m.loss_parts({"images": b["images"], "label": torch.as_tensor(labels)})


def test_branch_top1_hand_checked():
    arrays = {"pred_global": np.array([0, 1, 2, 3]), "pred_local": np.array([0, 0, 0, 0]),
              "pred_enh": np.array([9, 1, 2, 9])}
    labels = np.array([0, 1, 2, -1])
    splits = np.array(["val", "val", "test", "val"])
    got = prompts.branch_top1(arrays, labels, splits, "val")
    assert got == {"top1_val_global": pytest.approx(2 / 3), "top1_val_local": pytest.approx(1 / 3),
                   "top1_val_enhanced": pytest.approx(1 / 3)}     # unseen (-1) is a miss


def test_bank_validation():
    with pytest.raises(ValueError, match="rows"):
        prompts.PrototypeBank(["a", "b"], ["c"], [0, 0], np.zeros((3, 4)), np.zeros((2, 4)),
                              np.zeros((1, 4)), np.zeros((1, 4)))


def test_direct_regression_roundtrip(tmp_path):
    clip, tok = _clip(seed=2)
    n = 10
    imgs = torch.randn(n, 3, IMG, IMG)
    text = tok([f"t{i}" for i in range(n)])
    y = np.linspace(1, 10, n).astype(np.float32)
    ib = prompts.ImageBank.from_tensor(imgs)
    model, hist = direct.train_direct(clip, ib, text, y, np.arange(6), np.arange(6, 10), epochs=2,
                                      lr=1e-3, weight_decay=1e-5, batch_size=4,
                                      device=torch.device("cpu"), seed=0, progress=False)
    assert len(hist["val_mse"]) == 2 and hist["best_epoch"] in (0, 1)
    pred = direct.predict_direct(model, ib, text, np.arange(6, 10))
    assert pred.shape == (4,) and np.isfinite(pred).all()
    assert np.mean((pred - y[6:]) ** 2) == pytest.approx(min(hist["val_mse"]), rel=1e-4)
    path = tmp_path / "direct_regression.parquet"
    df = direct.write_direct_predictions(path, np.arange(6, 10), ["val", "val", "test", "test"], pred, "fp")
    back, meta = read_parquet(path, expect_fingerprint="fp")
    assert list(back.columns) == ["Pid", "split", "y_pred", "variant", "seed"] and meta["fingerprint"] == "fp"
    assert (back["seed"] == -1).all()
    m = direct.direct_metrics(df, pd.Series(y, index=np.arange(n)))
    assert {"direct_val_mse", "direct_test_src"} <= set(m)
    with pytest.raises(ValueError, match="3 predictions"):
        direct.write_direct_predictions(tmp_path / "x.parquet", np.arange(4), ["val"] * 4, pred[:3], "fp")


def test_no_class_indexed_prototype_reaches_the_enhanced_feature(bank):
    """Issue 9 (label shortcut): the enhanced feature (whose logits also make the probability
    block and cls_loss) may read the prototype *set* only, never the true class's prototype.
    Shuffling which prototype sits at which class index, labels unchanged, must leave the
    training-mode enhanced feature unchanged; a forward pass that picks row ``label`` (or any
    class-indexed row) of the bank changes under it. (Together with
    ``test_enhanced_branch_sees_no_label``, which changes the labels instead.)"""
    import dataclasses
    perm = np.random.default_rng(0).permutation(K)
    shuffled = dataclasses.replace(bank, visual=np.asarray(bank.visual)[perm],
                                   textual=np.asarray(bank.textual)[perm])
    b = _batch(6, seed=4)
    feats = []
    for bk in (bank, shuffled):
        m = _model(bk, freeze=True, seed=3).train()
        seen = []
        m.cross_modal.register_forward_hook(lambda mod, inp, out: seen.append(out.detach()))
        m.loss_parts(b)                            # the training pass, labels in the batch
        feats.append(seen[0])
    torch.testing.assert_close(feats[0], feats[1], rtol=1e-5, atol=1e-6)
    # the check can fail: a class-indexed read of the bank differs between the two banks
    assert not np.allclose(np.asarray(bank.visual)[b["label"].numpy()],
                           np.asarray(shuffled.visual)[b["label"].numpy()])


def test_run_direct_variants_and_seeds_fair_metadata(tmp_path):
    """Issue 9 (confounded direct regression): run_direct trains the content-only row and the
    content + metadata row for every seed; only direct_meta reads the metadata, which is the
    boosting stage's (out-of-fold user mean included)."""
    _, tok = _clip(seed=2)
    n = 24
    rng = np.random.default_rng(0)
    posts = pd.DataFrame({"Pid": np.arange(100, 100 + n), "Uid": rng.integers(0, 4, n).astype(str),
                          "label": rng.normal(5, 2, n).astype(np.float32),
                          "split": pd.array(["train"] * 14 + ["val"] * 4 + ["test"] * 4 + [None] * 2,
                                            dtype="string")})
    posts.loc[posts["split"].isna(), "label"] = np.nan
    calls = []

    def fake_meta(p, oof_folds, seed):
        calls.append((oof_folds, seed))
        return np.arange(len(p), dtype=np.float32)[:, None] / len(p)

    import smpp_utils.paper_a.direct as D
    orig, D.bank_metadata = D.bank_metadata, fake_meta
    try:
        imgs = torch.randn(n, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
        frame, hists = direct.run_direct(lambda: _clip(seed=2)[0], prompts.ImageBank.from_tensor(imgs),
                                         tok([f"t{i}" for i in range(n)]), posts, seeds=[5, 6],
                                         epochs=1, lr=1e-3, weight_decay=0.0, batch_size=7,
                                         device=torch.device("cpu"), oof_folds=3, meta_seed=9,
                                         progress=False)
    finally:
        D.bank_metadata = orig
    assert calls == [(3, 9)]
    assert sorted(hists) == ["direct/5", "direct/6", "direct_meta/5", "direct_meta/6"]
    assert len(frame) == 4 * 8 and set(frame["split"]) == {"val", "test"}
    by = {k: g.set_index("Pid")["y_pred"] for k, g in frame.groupby(["variant", "seed"])}
    assert not np.allclose(by[("direct", 5)], by[("direct", 6)])          # seeds matter
    assert not np.allclose(by[("direct", 5)], by[("direct_meta", 5)])     # metadata enters
    path = tmp_path / "d.parquet"
    df = direct.write_direct_predictions(path, frame["Pid"], frame["split"], frame["y_pred"], "fp",
                                         variants=frame["variant"], seeds=frame["seed"])
    m = direct.direct_metrics(df, posts.set_index("Pid")["label"])
    assert {"direct_test_src", "direct_meta_test_mse"} <= set(m)
    with pytest.raises(ValueError, match="twice"):
        direct.write_direct_predictions(path, np.r_[frame["Pid"], frame["Pid"][:1]],
                                        np.r_[frame["split"], frame["split"][:1]],
                                        np.r_[frame["y_pred"], frame["y_pred"][:1]], "fp",
                                        variants=np.r_[frame["variant"], frame["variant"][:1]],
                                        seeds=np.r_[frame["seed"], frame["seed"][:1]])
    with pytest.raises(ValueError, match="unknown variants"):
        direct.run_direct(None, None, None, posts, variants=("direct_x",), seeds=[0], epochs=1,
                          lr=1e-3, weight_decay=0, batch_size=4, device="cpu", oof_folds=3, meta_seed=0)


def test_direct_heads_get_their_own_lr():
    clip, _ = _clip(seed=2)
    m = direct.DirectRegressor(clip, 0.0, 1.0, meta_dim=3, head_lr=1e-2)
    backbone, heads = m.param_groups()
    assert heads["lr"] == 1e-2 and "lr" not in backbone
    head_ids = {id(p) for p in heads["params"]}
    assert head_ids == {id(p) for p in list(m.head.parameters()) + list(m.meta_head.parameters())}
    assert not head_ids & {id(p) for p in backbone["params"]}
    assert len(backbone["params"]) + len(heads["params"]) == sum(p.requires_grad for p in m.parameters())
    assert "lr" not in direct.DirectRegressor(clip, 0.0, 1.0).param_groups()[1]


def test_build_model_takes_the_finetune_knobs_and_the_rows_changes(bank):
    """Notebook 03 and the retrained rows build PromptCLIP through ``prompts.build_model``: the
    finetune knobs, with only the keyword arguments a row changes overridden."""
    from types import SimpleNamespace
    cfg = SimpleNamespace(global_ctx=4, local_ctx=2, temperature=0.05, attn_heads=2, w_global=2.0,
                          w_local=0.5, w_contrastive=0.25, freeze_backbone=1)
    clip, tok = _clip()
    m = prompts.build_model(cfg, clip, tok, bank)
    assert m.w == {"global": 2.0, "enhanced": 2.0, "local": 0.5, "contrastive": 0.25}
    assert m.temperature == 0.05 and m.freeze_backbone is True and not m.raw_text
    assert m.global_prompts.ctx.shape[-2] == 4 and m.cross_modal.attn.num_heads == 2
    clip, tok = _clip()
    r = prompts.build_model(cfg, clip, tok, bank, w_enhanced=0.0, raw_text=True)
    assert r.w == {"global": 2.0, "enhanced": 0.0, "local": 0.5, "contrastive": 0.25} and r.raw_text
