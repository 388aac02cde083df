"""NIPA - Ji, Park, Rao and Chen (2023), "Neural Image Popularity Assessment with
Retrieval-augmented Transformer", ACM Multimedia.

Original: for a query image, retrieve visually similar posts from a memory of training
posts and feed the query and the retrieved images together with their popularity scores
(and user/context information) to a transformer that regresses the query's popularity.
Here: a FIXED cosine retriever (faiss, exact) over the frozen image embeddings returns
the top K=10 train posts (a train query never retrieves itself). Tokens: the query
(projected image + context of metadata and subcategory + a query-type embedding) and one
token per neighbour (projected content code + projected standardised label + projected
cosine similarity; the content code is the fixed train-PCA, 64 components, of the
neighbour's standardised image embedding). One transformer encoder layer (d=32, 4 heads,
no dropout); the query token's output goes to an MLP regressor. Simplified: frozen
embeddings, PCA codes for neighbours, a single small layer, no user tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from .fit import run_neural
from .inputs import SPLITS, n_cats_of
from .layers import Bank, Context, Regressor, mlp
from .retriever import bank_codes, retrieve_all, with_neighbours

K, D, N_CODE = 10, 32, 64


class NIPA(Regressor):
    def __init__(self, train, d_meta, n_cats, y_mean, y_std):
        super().__init__(y_mean, y_std)
        self.bank = Bank(bank_codes({"train": train}, ("img",), N_CODE), train["y"], y_mean, y_std)
        self.img = nn.Linear(train["img"].shape[1], D)
        self.code = nn.Linear(self.bank.code.shape[1], D)
        self.lab, self.sim = nn.Linear(1, D), nn.Linear(1, D)
        self.ctx = Context(d_meta, n_cats, D)
        self.query_type = nn.Parameter(torch.zeros(D))
        layer = nn.TransformerEncoderLayer(D, 4, 2 * D, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = mlp(D, 64, 1, 0.1)

    def forward(self, b):
        nbr = b["nbr"]
        q = self.img(b["img"]) + self.ctx(b) + self.query_type
        n = (self.code(self.bank.code[nbr]) + self.lab(self.bank.y[nbr].unsqueeze(-1))
             + self.sim(b["nbr_sim"].unsqueeze(-1)))
        h = self.encoder(torch.cat([q.unsqueeze(1), n], 1))
        return self.head(h[:, 0]).squeeze(-1)


def prepare(d: dict, raw: dict, k: int = K) -> dict:
    ids, sims = retrieve_all(raw["train"]["img"], {s: raw[s]["img"] for s in SPLITS}, k)
    return with_neighbours(d, ids, sims)


def run(data, info, seed, cfg):
    def build(d, i, m, s):
        return NIPA(d["train"], d["train"]["meta"].shape[1], n_cats_of(d, i), m, s)
    return run_neural(data, info, seed, cfg, build, prepare)
