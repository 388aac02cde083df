"""Torch pieces shared by the neural baselines: ``mlp``, the post ``Context`` (metadata +
subcategory), ``Regressor`` (predicts on the label scale but trains on the standardised
label, so every neural baseline starts at the train mean whatever ``lr``) and ``Bank`` (the
train bank of the retrieval baselines as non-persistent buffers)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(d_in: int, hidden: int, d_out: int, dropout: float = 0.1, layers: int = 2) -> nn.Sequential:
    """``layers`` linear maps with GELU + dropout between them."""
    mods, d = [], d_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout)]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class Context(nn.Module):
    """Post context shared by the multimodal baselines: numeric metadata + subcategory embedding."""

    def __init__(self, d_meta: int, n_cats: int, d_out: int, d_cat: int = 8):
        super().__init__()
        self.cat = nn.Embedding(max(n_cats, 1), d_cat)
        self.proj = nn.Linear(d_meta + d_cat, d_out)

    def forward(self, batch):
        return self.proj(torch.cat([batch["meta"], self.cat(batch["cat"])], -1))


class Regressor(nn.Module):
    """Base of the neural baselines: ``forward(batch)`` returns the standardised prediction,
    ``extra_loss`` (optional) adds regularisers; ``predict`` is on the label scale."""

    def __init__(self, y_mean: float, y_std: float):
        super().__init__()
        self.register_buffer("y_mean", torch.tensor(float(y_mean)), persistent=False)
        self.register_buffer("y_std", torch.tensor(float(max(y_std, 1e-6))), persistent=False)
        self._aux = None

    def forward(self, batch):                      # pragma: no cover - abstract
        raise NotImplementedError

    def training_loss(self, batch):
        self._aux = None
        z = (batch["y"] - self.y_mean) / self.y_std
        out = self(batch)
        loss = torch.mean((out - z) ** 2)
        return loss + self._aux if self._aux is not None else loss

    def predict(self, batch):
        return self(batch) * self.y_std + self.y_mean


class Bank(nn.Module):
    """The train bank as non-persistent buffers (moved with the model, not checkpointed):
    ``code`` [n_train, k] content codes and ``y`` the standardised train labels."""

    def __init__(self, code: torch.Tensor, y: torch.Tensor, y_mean: float, y_std: float):
        super().__init__()
        self.register_buffer("code", code.float().clone(), persistent=False)
        self.register_buffer("y", ((y.float() - y_mean) / y_std).clone(), persistent=False)
