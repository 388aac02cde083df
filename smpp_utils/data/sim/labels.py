"""Step 6: the label. The raw score is a weighted sum of standardised components (user,
subcategory, concept, image quality, weekday, hour, age, session, visual appeal, trend, tags,
spam, title); the latent score is its Gaussianised rank within TRAIN; the label is
Q(Phi(s + e)) with Q the real SMPD quantile function. And the oracle E[label | s]."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ...core.metrics import regression_metrics
from ..label_quantiles import quantile_map
from .config import SimConfig
from .vocab import _WEEKDAY, _z


def visual_appeal(images: pd.DataFrame) -> np.ndarray:
    """(N,) smooth appeal of the rendered content: hue, brightness, saturation, object size."""
    return (np.cos(2 * math.pi * (images["fg_hue"].to_numpy() - 0.1))
            + 2.0 * images["val"].to_numpy() + images["sat"].to_numpy()
            + 4.0 * images["scale"].to_numpy())


def label_components(cfg: SimConfig, *, influence_post, appeal_sub_post, concept_appeal_post, quality,
                     weekday, hour, age, session_effect_post, images, trend, n_tags, n_spam,
                     title_kind) -> pd.DataFrame:
    """(N, 13) weighted components c_* of the raw score (their row sum)."""
    return pd.DataFrame({
        "c_user": cfg.w_user * influence_post,
        "c_subcat": cfg.w_subcat * appeal_sub_post,
        "c_concept": cfg.w_concept * concept_appeal_post,
        "c_image": cfg.w_image * quality,
        "c_weekday": cfg.w_weekday * _WEEKDAY[weekday],
        "c_hour": cfg.w_hour * np.cos(2 * math.pi * (hour - cfg.hour_peak) / 24),
        "c_age": cfg.w_age * _z(age),
        "c_session": cfg.w_session * session_effect_post,
        "c_visual": cfg.w_visual * _z(visual_appeal(images)),
        "c_trend": cfg.w_trend * _z(trend),
        "c_tags": cfg.w_tags * _z(np.log1p(n_tags)),
        "c_spam": -cfg.w_spam * np.log1p(n_spam),
        "c_title": cfg.w_title * np.array([0.0, -1.0, 1.0])[title_kind],
    })


def gaussianised_latent(raw: np.ndarray, is_test: np.ndarray, noise_sd: float) -> np.ndarray:
    """s = sqrt(1 - sd^2) * Phi^-1((rank + 0.5) / n_train), rank within the TRAIN posts (so
    train labels follow the real marginal exactly); test posts are placed on the train ECDF,
    so the drift continues into test."""
    N = len(raw)
    tr = ~is_test
    n_tr = int(tr.sum())
    raw_tr = np.sort(raw[tr], kind="stable")
    ranks = np.empty(N)
    ranks[np.flatnonzero(tr)[np.argsort(raw[tr], kind="stable")]] = np.arange(n_tr)
    ranks[is_test] = np.clip(np.searchsorted(raw_tr, raw[is_test]), 0, n_tr - 1)
    return math.sqrt(1 - noise_sd**2) * ndtri((ranks + 0.5) / n_tr)


def noisy_labels(latent: np.ndarray, rng: np.random.Generator, noise_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """e ~ N(0, sd^2) and the label Q(Phi(s + e)) rounded to 2 decimals."""
    noise = rng.normal(0, noise_sd, len(latent))
    return noise, np.round(quantile_map(ndtr(latent + noise)), 2)


@dataclass
class Label:
    comp: pd.DataFrame           # (N, 13) weighted components c_*
    raw: np.ndarray              # (N,) raw score (row sum of comp)
    latent: np.ndarray           # (N,) noise-free latent score s
    noise: np.ndarray            # (N,) e
    label: np.ndarray            # (N,) Q(Phi(s + e)), 2 decimals


def draw_labels(cfg: SimConfig, rng: np.random.Generator, comp: pd.DataFrame, is_test: np.ndarray) -> Label:
    raw = comp.to_numpy().sum(axis=1)
    latent = gaussianised_latent(raw, is_test, cfg.label_noise_sd)
    noise, label = noisy_labels(latent, rng, cfg.label_noise_sd)
    return Label(comp, raw, latent, noise, label)


# --------------------------------------------------------------------------- oracle
def oracle_predictions(latent, cfg: SimConfig) -> np.ndarray:
    """E[label | latent] = E_e Q(Phi(s + e)), e ~ N(0, label_noise_sd^2): stratified Monte
    Carlo over e with a fixed seed (the best MSE predictor given the noise-free score).
    The written labels are additionally rounded to 2 decimals (negligible)."""
    s = np.asarray(latent, dtype=float).ravel()
    K = int(cfg.oracle_draws)
    u = (np.arange(K) + np.random.default_rng(12_345).random(K)) / K
    e = cfg.label_noise_sd * ndtri(u)
    out = np.empty_like(s)
    step = max(1, 2_000_000 // K)
    for i in range(0, len(s), step):
        out[i:i + step] = quantile_map(ndtr(s[i:i + step, None] + e[None, :])).mean(axis=1)
    return out


def oracle_ceiling(latent, labels, cfg: SimConfig) -> dict[str, float]:
    """Metrics (mse, mae, src) of the oracle E[label | latent] against ``labels``."""
    return regression_metrics(labels, oracle_predictions(latent, cfg))
