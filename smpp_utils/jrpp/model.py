"""The assembled JRPP model for :class:`smpp_utils.core.trainer.Trainer`.

Forward pass for a batch of query posts (Fig. 2 of the paper):

1. encode each post: x = LayerNorm(GELU(W [img; txt; meta]))  (shared by queries and the bank)
2. retrieve (:mod:`.retrieval`): faiss shortlist of ``shortlist`` bank posts, full MoL scores
   (Eq. 5) with gradients, top ``k`` (Eq. 2); a train query never retrieves itself
3. candidates = [x_r; standardised label of r] (the bank's popularity is part of the
   retrieved context, as in retrieval-augmented popularity models; no leakage since a
   query is never its own neighbour and the bank is the train split only). A candidate is
   encoded from ``meta_ctx`` (its metadata without the label-derived user mean, see
   :mod:`smpp_utils.data.inputs`): that mean reads the labels of the user's other train
   posts, so a same-user neighbour would carry the query's own label (second-order leak).
   Nothing a train query sees is computed from its own label (test_jrpp: perturb one
   label, the query's whole input - features, retrieved ids, what the candidates carry - is
   unchanged).
4. Gumbel top-k' (Eq. 7) -> IB (Eq. 8-13) -> Transformer aggregator (Eq. 6; the MoL scores
   as attention bias only with ``attn_bias``) -> prediction; loss = MSE + beta * KL (Eq. 11-12).
   The retriever is trained through the filter: the MoL score is an input of the Gumbel
   scorer (straight-through gradient) and the candidates' embeddings carry the gradient.

Ablation switches (paper Fig. 4): ``retrieval=False`` (no retrieval: the aggregator sees
the query token only), ``mol=False`` (w/o joint: a static dot-product retriever over the
L2-normalised frozen [img; txt] embeddings, not trained), ``filter=False`` (no Gumbel
selection; with ``ib=False`` too it is the paper's "w/o filter"), ``tta`` (used by the
experiment code: predict with or without Eq. 14-15).

Randomness: the Gumbel and IB noise come from the model's own generator, re-seeded at
every epoch from (trainer seed, epoch), so a run resumed from ``last.pt`` draws the same
noise as an uninterrupted run (on CPU and GPU alike); there is no dropout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .aggregator import Aggregator
from .filter import GumbelFilter
from .ib import InformationBottleneck
from .mol import MixtureOfLogits
from .retrieval import BankState, build_index, check_bank, check_k, duplicate_mask, shortlist

BANK_KEYS = ("img", "txt", "meta", "user", "y")


@dataclass
class JRPPConfig:
    proj_dim: int = 256
    n_mol: int = 16
    mol_dim: int = 64
    shortlist: int = 100
    k: int = 50
    kprime_frac: float = 0.8
    gumbel_tau: float = 1.0
    ib_beta: float = 1e-5
    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 128
    reindex_every: int = 1
    retrieval: bool = True
    mol: bool = True
    filter: bool = True
    ib: bool = True
    tta: bool = True
    use_user: bool = True
    use_bank_labels: bool = True
    attn_bias: bool = False         # MoL scores as additive attention bias (True hurt the fit; aggregator.py)
    attn_bias_init: float = 1.0     # initial scale of that bias (learned)
    gumbel_noise: bool = True       # Gumbel noise in training (False: train selects as eval)
    query_user: bool = False        # a learned user-id embedding added to the post encoder
    shortlist_mode: str = "concat"
    index_kind: str = "auto"
    eval_chunk: int = 512

    @classmethod
    def from_cfg(cls, cfg, **overrides) -> "JRPPConfig":
        """From a notebook cfg namespace / dict (unknown keys ignored) plus overrides."""
        src = cfg if isinstance(cfg, dict) else vars(cfg)
        kw = {f.name: src[f.name] for f in fields(cls) if f.name in src and src[f.name] is not None}
        kw.update(overrides)
        return cls(**kw)

    @property
    def kprime(self) -> int:
        return max(1, int(math.floor(self.kprime_frac * self.k)))   # k' = floor(0.8 k)


def cfg_noise(cfg: "JRPPConfig") -> bool:
    return bool(cfg.gumbel_noise)


def ablation_kwargs(name: str) -> dict:
    table = {"full": {}, "w/o retrieval": {"retrieval": False}, "w/o joint": {"mol": False},
             "w/o filter": {"filter": False, "ib": False}, "w/o perturbation": {"tta": False}}
    if name not in table:
        raise KeyError(f"unknown ablation {name!r}; expected one of {sorted(table)}")
    return dict(table[name])


class JRPP(nn.Module):
    def __init__(self, dims: dict, n_users: int, label_mean: float, cfg: JRPPConfig | None = None,
                 bank: dict | None = None):
        super().__init__()
        self.cfg = cfg = cfg or JRPPConfig()
        in_dim = int(dims["img"]) + int(dims["txt"]) + int(dims.get("meta", 0))
        p = cfg.proj_dim
        self.label_mean = float(label_mean)
        self.label_std = 1.0
        self.encoder = nn.Sequential(nn.Linear(in_dim, p), nn.GELU(), nn.LayerNorm(p))
        if cfg.query_user:             # the user as an input feature of the post (Sec. 3: x from
            # text, image and user features); zero-init, row 0 = unseen user stays 0
            self.user_in = nn.Embedding(n_users, p, padding_idx=0)
            nn.init.zeros_(self.user_in.weight)
        cand_dim = p + int(cfg.use_bank_labels)
        if cfg.retrieval:
            if cfg.mol:
                self.mol = MixtureOfLogits(p, cfg.n_mol, cfg.mol_dim,
                                           n_users if cfg.use_user else 0)
            if cfg.filter:
                self.filter = GumbelFilter(cand_dim, p, tau=cfg.gumbel_tau)
            if cfg.ib:
                self.ib = InformationBottleneck(cand_dim, p, cfg.d_model)
            else:
                self.cand_proj = nn.Sequential(nn.Linear(cand_dim + p, cfg.d_model), nn.GELU())
        self.agg = Aggregator(p, cfg.d_model, cfg.n_heads, cfg.n_layers, label_mean,
                              bias_init=cfg.attn_bias_init)
        self._bank = None
        self._bank_dev = None
        self._banks: dict[str, BankState | None] = {"train": None, "eval": None}
        self._gen = None
        self.last_parts: dict = {}
        if bank is not None:
            self.set_bank(bank)

    # ------------------------------------------------------------------ bank
    def set_bank(self, train: dict) -> None:
        """The retrieval bank = the train split (dict of tensors with img/txt/meta/user/y)."""
        missing = [k for k in BANK_KEYS if k not in train]
        if missing:
            raise KeyError(f"bank is missing the tensors {missing}")
        n = len(train["y"])
        if self.cfg.retrieval:
            if n == 0:
                raise ValueError("retrieval bank is empty: the train split has no posts")
            check_k(self.cfg.k, n, True, "k")
            if self.cfg.mol:
                check_k(self.cfg.shortlist, n, True, "shortlist")
                if self.cfg.shortlist < self.cfg.k:
                    raise ValueError(f"shortlist={self.cfg.shortlist} must be >= k={self.cfg.k}")
        for key in ("img", "txt", "meta"):
            bad = ~torch.isfinite(train[key]).reshape(n, -1).all(1)
            if bad.any():
                raise ValueError(f"bank '{key}' has NaN/inf at bank position {int(bad.nonzero()[0])}")
        self._bank = {k: train[k].detach().cpu() for k in BANK_KEYS}
        if "meta_ctx" in train:     # label-derived metadata blanked (data.inputs.context_meta)
            self._bank["meta"] = train["meta_ctx"].detach().cpu()
        y = self._bank["y"].float()
        self.label_std = float(y.std()) if n > 1 and float(y.std()) > 0 else 1.0
        self._bank_dev = None
        self._banks = {"train": None, "eval": None}

    def _bank_on(self, device) -> dict:
        if self._bank is None:
            raise RuntimeError("JRPP has no retrieval bank: call set_bank(data['train']) first")
        if self._bank_dev is None or self._bank_dev["y"].device != device:
            self._bank_dev = {k: v.to(device) for k, v in self._bank.items()}
        return self._bank_dev

    def encode(self, batch: dict) -> torch.Tensor:
        """x = LayerNorm(GELU(W [img; txt; meta] (+ E_user[u])))  [B, proj_dim]."""
        if not hasattr(self, "user_in"):
            return self.encoder(self.features(batch))
        lin, act, norm = self.encoder
        return norm(act(lin(self.features(batch)) + self.user_in(batch["user"])))

    @staticmethod
    def features(batch: dict) -> torch.Tensor:
        return torch.cat([batch["img"], batch["txt"], batch["meta"]], dim=-1)

    def _stamp(self) -> float:
        """Fingerprint of the weights that shape the bank vectors (to detect stale indexes)."""
        with torch.no_grad():
            ps = list(self.encoder.parameters()) + (list(self.mol.parameters()) if hasattr(self, "mol") else [])
            ps += list(self.user_in.parameters()) if hasattr(self, "user_in") else []
            return float(sum(p.double().sum() + p.double().square().sum() for p in ps))

    @torch.no_grad()
    def _bank_vectors(self, chunk: int = 8192) -> np.ndarray:
        dev = next(self.parameters()).device
        bank = self._bank_on(dev)
        out = []
        for s in range(0, len(bank["y"]), chunk):
            b = {k: v[s:s + chunk] for k, v in bank.items()}
            if self.cfg.mol:
                comp = self.mol.item_components(self.encode(b), b["user"])
                out.append(self.mol.shortlist_vectors(comp, self.cfg.shortlist_mode).float().cpu())
            else:
                out.append(self.static_vectors(b).cpu())
        return out and torch.cat(out).numpy()

    def _build(self) -> BankState:
        vec = check_bank(self._bank_vectors(), "retrieval bank vectors")
        return BankState(build_index(vec, self.cfg.index_kind), self._stamp(), len(vec))

    def bank_index(self, mode: str, rebuild: bool = False) -> BankState:
        """The index for ``mode`` 'train' (refreshed every ``reindex_every`` epochs) or
        'eval' (always from the current weights). The static retriever (mol=False) builds
        one index and keeps it."""
        other = self._banks["eval" if mode == "train" else "train"]
        cur = self._banks[mode]
        if not self.cfg.mol:
            if cur is None:
                cur = other if other is not None else self._build()
        elif mode == "eval" or rebuild or cur is None:
            stamp = self._stamp()
            if cur is None or cur.stamp != stamp:
                cur = other if other is not None and other.stamp == stamp else self._build()
        self._banks[mode] = cur
        return cur

    # ------------------------------------------------------------------ trainer hooks
    def on_epoch_start(self, epoch: int, trainer=None) -> None:
        seed = int(getattr(getattr(trainer, "cfg", None), "seed", 0))
        dev = next(self.parameters()).device
        self._gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + epoch)
        if self.cfg.retrieval:
            self.bank_index("train", rebuild=epoch % max(1, self.cfg.reindex_every) == 0)

    def training_loss(self, batch: dict) -> torch.Tensor:
        if self._gen is None:
            self.on_epoch_start(0)
        exclude = batch.get("bank_pos", batch["idx"])        # train queries are bank posts
        pred, kl = self._forward(batch, exclude, "train")
        mse = F.mse_loss(pred.float(), batch["y"].float())
        self.last_parts = {"mse": float(mse.detach()), "kl": float(kl.detach())}
        return mse + self.cfg.ib_beta * kl                    # L = MSE + beta * sum KL (Eq. 11-12)

    @torch.no_grad()
    def predict(self, batch: dict) -> torch.Tensor:
        n = len(batch["y"]) if "y" in batch else len(batch["img"])
        outs = []
        for s in range(0, n, self.cfg.eval_chunk):
            b = {k: (v[s:s + self.cfg.eval_chunk] if torch.is_tensor(v) else v) for k, v in batch.items()}
            outs.append(self._forward(b, b.get("bank_pos"), "eval")[0])
        return torch.cat(outs)

    # ------------------------------------------------------------------ forward
    def static_vectors(self, b: dict) -> torch.Tensor:
        """Frozen retriever of the 'w/o joint' ablation: L2-normalised [img; txt]."""
        return F.normalize(torch.cat([b["img"], b["txt"]], dim=-1).float(), dim=-1)

    def _forward(self, batch: dict, exclude, mode: str):
        xq = self.encode(batch)
        zero = xq.new_zeros(())
        if not self.cfg.retrieval:
            return self.agg(xq), zero
        cand, scores = self._retrieve(batch, xq, exclude, mode)
        kp = self.cfg.kprime
        if self.cfg.filter:
            _, cand, scores = self.filter(cand, xq, scores, kp, generator=self._gen,
                                          noise=self.training and cfg_noise(self.cfg))  # Eq. 7
        if self.cfg.ib:
            z, kl = self.ib(cand, xq, generator=self._gen)                            # Eq. 8-13
        else:
            z, kl = self.cand_proj(torch.cat([cand, xq.unsqueeze(1).expand(-1, cand.shape[1], -1)], -1)), zero
        return self.agg(xq, z, scores if self.cfg.attn_bias else None), kl             # Eq. 6

    def mol_topk(self, batch: dict, xq: torch.Tensor, n: int, k0: int, exclude=None, state=None,
                 bank=None, fill: float = -1e4):
        """The MoL retrieval of Eq. 2 / 5 for the queries ``batch`` (encoded ``xq``): a faiss
        shortlist of ``k0`` bank posts by the concat proxy of the current ``state`` index
        (default: the eval index), the gated MoL score on it, top ``n``. ``exclude``: per query
        the bank position it must not retrieve (itself), or -1. Returns (bank positions
        [B, n], MoL scores [B, n], the shortlisted posts' encodings [U, P] - with grad - and
        each chosen post's row in them [B, n]). Duplicate shortlist slots score ``fill``."""
        dev = xq.device
        bank = self._bank_on(dev) if bank is None else bank
        state = self.bank_index("eval") if state is None else state
        qc = self.mol.query_components(xq, batch["user"])
        qs = self.mol.query_summary(xq)
        qv = self.mol.shortlist_vectors(qc.detach(), self.cfg.shortlist_mode).float().cpu().numpy()
        ids = torch.from_numpy(shortlist(state.index, qv, int(k0), exclude, state.size)).to(dev)
        uniq, inv = torch.unique(ids, return_inverse=True)
        sub = {k: v[uniq] for k, v in bank.items()}
        xr = self.encode(sub)                   # with grad: candidates' embeddings
        rc = self.mol.item_components(xr, sub["user"])
        rs = self.mol.item_summary(xr)
        s, _, _ = self.mol.score(qc, qs, rc[inv], rs[inv])      # MoL scores (Eq. 5)
        s = s.masked_fill(duplicate_mask(ids), fill)
        top = s.topk(int(n), dim=1).indices                     # top-n (Eq. 2)
        return ids.gather(1, top), s.gather(1, top), xr, inv.gather(1, top)

    def _retrieve(self, batch: dict, xq: torch.Tensor, exclude, mode: str):
        """Top-k candidates [B,k,P(+1)] and their retrieval scores [B,k]."""
        dev = xq.device
        bank = self._bank_on(dev)
        state = self.bank_index(mode)
        excl = None if exclude is None else exclude.detach().cpu().numpy()
        cfg = self.cfg
        if cfg.mol:
            chosen, scores, xr, pos = self.mol_topk(batch, xq, cfg.k, cfg.shortlist, excl, state, bank)
            xk = xr[pos]
        else:
            qv = self.static_vectors(batch)
            ids = torch.from_numpy(shortlist(state.index, qv.cpu().numpy(), cfg.k, excl, state.size)).to(dev)
            sub = {k: v[ids] for k, v in bank.items()}
            scores = (self.static_vectors(sub) * qv.unsqueeze(1)).sum(-1).masked_fill(duplicate_mask(ids), -1e4)
            xk, chosen = self.encode(sub), ids
        if cfg.use_bank_labels:
            yk = (bank["y"][chosen].float() - self.label_mean) / self.label_std
            xk = torch.cat([xk, yk.unsqueeze(-1).to(xk.dtype)], dim=-1)
        return xk, scores

    def describe(self) -> dict:
        return {**asdict(self.cfg), "n_params": sum(p.numel() for p in self.parameters())}
