"""DLBA - Brunelli, Viola and Susto (2021), "Instagram Images and Videos Popularity
Prediction: A Deep Learning-Based Approach", Italian Workshop on AI for Business and Industries.

Original: a deep regressor fine-tuning a pre-trained CNN on the post image (visual
content only) to predict (log) engagement.
Here: a two-hidden-layer MLP (256-128, GELU, dropout 0.1) on the frozen image embedding
only, trained with the shared trainer. Simplified: the image backbone is frozen (our
CLIP image embedding), not fine-tuned end to end.
"""

from __future__ import annotations

from torch import nn

from .fit import run_neural
from .layers import Regressor, mlp


class DLBA(Regressor):
    def __init__(self, d_img: int, y_mean: float, y_std: float, hidden: int = 256):
        super().__init__(y_mean, y_std)
        self.net = nn.Sequential(nn.Linear(d_img, hidden), nn.GELU(), nn.Dropout(0.1),
                                 mlp(hidden, hidden // 2, 1, 0.1, layers=2))

    def forward(self, b):
        return self.net(b["img"]).squeeze(-1)


def run(data, info, seed, cfg):
    from .inputs import NotRun
    if data["train"]["img"].shape[1] == 0:
        raise NotRun("DLBA needs image features; the image embedding has dimension 0")
    return run_neural(data, info, seed, cfg,
                      lambda d, i, m, s: DLBA(d["train"]["img"].shape[1], m, s),
                      need=("img", "y"))
