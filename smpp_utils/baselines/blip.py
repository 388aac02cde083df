"""BLIP - Li, Li, Xiong and Hoi (2022), "BLIP: Bootstrapping Language-Image Pre-training for
Unified Vision-Language Understanding and Generation", ICML.

Original (as a popularity baseline): frozen BLIP vision-language features of the image and
its text, with a regression head on top.
Here: an MLP (256 hidden, GELU, dropout 0.1) on the concatenated frozen features
[img; txt]. Simplified: the features are this study's frozen embeddings (CLIP image,
MiniLM/CLIP text as configured), not BLIP's own encoders.
"""

from __future__ import annotations

import torch

from .fit import run_neural
from .layers import Regressor, mlp


class BLIPHead(Regressor):
    def __init__(self, d_in: int, y_mean: float, y_std: float, hidden: int = 256):
        super().__init__(y_mean, y_std)
        self.net = mlp(d_in, hidden, 1, 0.1, layers=3)

    def forward(self, b):
        return self.net(torch.cat([b["img"], b["txt"]], -1)).squeeze(-1)


def run(data, info, seed, cfg):
    def build(d, i, m, s):
        return BLIPHead(d["train"]["img"].shape[1] + d["train"]["txt"].shape[1], m, s)
    return run_neural(data, info, seed, cfg, build, need=("img", "txt", "y"))
