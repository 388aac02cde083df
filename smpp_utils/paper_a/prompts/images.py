"""Images of a posts table held once for the three passes of stage 03 (prompt training,
direct regression, feature extraction), and the post texts as CLIP tokens."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm


class _PathImages(torch.utils.data.Dataset):
    """Fallback image dataset: ``preprocess(PIL image)`` of ``root/img_path``."""

    def __init__(self, img_paths, root, preprocess):
        self.paths, self.root, self.preprocess = list(img_paths), Path(root), preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        p = self.root / str(self.paths[i])
        try:
            with Image.open(p) as im:
                return self.preprocess(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise OSError(f"{p}: cannot read image of row {i}: {e}") from e


def _first_tensor(item):
    if torch.is_tensor(item):
        return item
    if isinstance(item, dict):
        item = [v for k, v in item.items() if k in ("image", "images", "img", "pixel_values")] or list(item.values())
    for v in item:
        if torch.is_tensor(v) and v.dim() == 3:
            return v
    raise TypeError("image dataset item holds no [C, H, W] tensor")


class ImageBank:
    """Preprocessed images of a posts table, addressed by row position. Decoded once into a
    float16 tensor when they fit in ``cache_gb`` (what ci/default do: three passes reuse it),
    else streamed per batch through a DataLoader with ``num_workers``."""

    def __init__(self, dataset, num_workers: int = 0, cache_gb: float = 4.0,
                 batch_size: int = 256, progress: bool = True):
        self.dataset, self.num_workers = dataset, int(num_workers)
        self.n = len(dataset)
        self.cache = None
        shape = tuple(_first_tensor(dataset[0]).shape) if self.n else (3, 1, 1)
        if self.n * math.prod(shape) * 2 <= cache_gb * 2**30:
            self.cache = torch.empty((self.n, *shape), dtype=torch.float16)
            s = 0
            for imgs in tqdm(self._loader(range(self.n), batch_size), total=math.ceil(self.n / batch_size),
                             desc="decode images", disable=not progress):
                self.cache[s:s + len(imgs)] = imgs.half()
                s += len(imgs)

    @classmethod
    def from_posts(cls, posts: pd.DataFrame, root, preprocess, **kw) -> "ImageBank":
        try:
            from ...embed.encoders import PostImageDataset
            ds = PostImageDataset(posts, root, preprocess)
        except ImportError:
            ds = _PathImages(posts["img_path"].tolist(), root, preprocess)
        return cls(ds, **kw)

    @classmethod
    def from_tensor(cls, images: torch.Tensor) -> "ImageBank":
        bank = cls.__new__(cls)
        bank.dataset, bank.num_workers, bank.n = None, 0, len(images)
        bank.cache = images.half()
        return bank

    def _loader(self, idx, batch_size):
        sub = torch.utils.data.Subset(self.dataset, list(idx))
        dl = torch.utils.data.DataLoader(sub, batch_size=batch_size, shuffle=False,
                                         num_workers=self.num_workers,
                                         collate_fn=lambda items: torch.stack([_first_tensor(i) for i in items]))
        yield from dl

    def batches(self, idx: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """(row positions, float32 images) in the order of ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.cache is not None:
            for s in range(0, len(idx), batch_size):
                b = idx[s:s + batch_size]
                yield b, self.cache[torch.from_numpy(b)].float()
        else:
            for s, imgs in zip(range(0, len(idx), batch_size), self._loader(idx, batch_size)):
                yield idx[s:s + batch_size], imgs.float()


def tokenize_posts(tokenizer, texts: Sequence[str], batch_size: int = 4096) -> torch.Tensor:
    return torch.cat([tokenizer(list(texts[s:s + batch_size])) for s in range(0, len(texts), batch_size)])
