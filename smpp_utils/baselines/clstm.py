"""CLSTM - Ghosh, Vinyals, Strope, Roy, Dean and Heck (2016), "Contextual LSTM (CLSTM)
Models for Large Scale NLP Tasks", arXiv:1602.06291.

Original: an LSTM language model whose input at every step is the word embedding
concatenated with a context (topic) vector, used as a popularity baseline over the post's
text with its context.
Here: an LSTM (hidden 32) over the post's tag tokens (embedding 16); at every step the
token embedding is concatenated with a context vector projected from the post features
[img; txt; meta; subcategory] (dimension 32). The final state at the last real tag (the
context alone when the post has no tags) and the context go through an MLP regressor.
Simplified: tags instead of full sentences, one layer, no language-model pre-training.
NotRun when the inputs carry no tag tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from .fit import run_neural
from .inputs import NotRun, n_cats_of
from .layers import Context, Regressor, mlp


class CLSTM(Regressor):
    def __init__(self, d_img, d_txt, d_meta, n_cats, n_tags, y_mean, y_std,
                 d_tok=16, d_ctx=32, hidden=32):
        super().__init__(y_mean, y_std)
        self.tok = nn.Embedding(n_tags, d_tok, padding_idx=0)
        self.ctx_feat = nn.Linear(d_img + d_txt, d_ctx)
        self.ctx_meta = Context(d_meta, n_cats, d_ctx)
        self.lstm = nn.LSTM(d_tok + d_ctx, hidden, batch_first=True)
        self.head = mlp(hidden + d_ctx, 64, 1, 0.1)

    def forward(self, b):
        ctx = torch.tanh(self.ctx_feat(torch.cat([b["img"], b["txt"]], -1)) + self.ctx_meta(b))
        tags = b["tags"]
        lengths = (tags > 0).sum(1)
        x = torch.cat([self.tok(tags), ctx.unsqueeze(1).expand(-1, tags.shape[1], -1)], -1)
        h, _ = self.lstm(x)
        last = (lengths - 1).clamp_min(0)
        h_last = h[torch.arange(len(tags), device=tags.device), last]
        h_last = h_last * (lengths > 0).unsqueeze(-1).to(h_last.dtype)
        return self.head(torch.cat([h_last, ctx], -1)).squeeze(-1)


def run(data, info, seed, cfg):
    if "tags" not in data["train"] or int((data["train"]["tags"] > 0).sum()) == 0:
        raise NotRun("CLSTM reads tag tokens; the train split has none")

    def build(d, i, m, s):
        n_tags = max(int(i.get("n_tags", 0)) if i else 0,
                     1 + max(int(d[k]["tags"].max()) for k in d))
        tr = d["train"]
        return CLSTM(tr["img"].shape[1], tr["txt"].shape[1], tr["meta"].shape[1],
                     n_cats_of(d, i), n_tags, m, s)
    return run_neural(data, info, seed, cfg, build, need=("img", "txt", "meta", "y", "cat", "tags"))
