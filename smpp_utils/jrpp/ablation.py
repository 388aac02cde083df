"""JRPP ablations (paper Figure 4) and sensitivity to the number of test-time
perturbations T (Figure 5), for notebook 06.

"full" and "w/o perturbation" are read from the predictions stage 04 wrote (the same
trained models with and without Eq. 14-15); only the variants that change the network
(w/o retrieval, w/o joint = dot-product retriever, w/o filter = no Gumbel filter and no IB)
are trained here, with the same trainer, data and seeds. The T sweep reloads 04's best
checkpoint of seed 0 and only re-runs inference.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib import pyplot as plt

from ..core import paths
from ..core.checkpoint import load_checkpoint
from ..core.io import read_parquet
from ..core.metrics import regression_metrics
from ..core.trainer import predict
from .experiment import load_tta_scales, seeds, train_jrpp, tta_choice
from .model import JRPP, JRPPConfig, ablation_kwargs
from .tta import predict_tta

TRAINED_VARIANTS = ("w/o retrieval", "w/o joint", "w/o filter")


def stage04_rows(profile: str, info: dict, data: dict, n_seeds: int) -> list[dict]:
    """'full' (with TTA) and 'w/o perturbation' test metrics from stage 04's predictions."""
    rows = []
    y = pd.Series(data["test"]["y"].numpy(), index=info["pids"]["test"])
    for i in range(n_seeds):
        path = paths.data_dir(profile) / "predictions" / "jrpp" / f"jrpp_seed{i}.parquet"
        df, _ = read_parquet(path, expect_fingerprint=info["fingerprint"])
        test = df[df["split"] == "test"].set_index("Pid").reindex(y.index)
        rows.append({"variant": "full", "seed_index": i, **regression_metrics(y, test["y_pred_tta"])})
        rows.append({"variant": "w/o perturbation", "seed_index": i, **regression_metrics(y, test["y_pred"])})
    return rows


def trained_rows(data: dict, info: dict, cfg, variants, n_seeds: int) -> list[dict]:
    """Train each variant for the first ``n_seeds`` seeds of stage 04; test metrics with TTA
    (as the full model), so each row differs from 'full' by one module only."""
    rows = []
    y = data["test"]["y"].numpy()
    for v in variants:
        for i, seed in enumerate(seeds(cfg)[:n_seeds]):
            model, hist = train_jrpp(data, info, cfg, seed, None, **ablation_kwargs(v))
            choice = tta_choice(model, data, cfg, seed)            # scales chosen on val, as in 04
            pred = (predict_tta(model, data["test"], int(cfg.tta_T), choice["scales"], seed=seed)
                    if choice is not None else predict(model, data["test"], 512))
            rows.append({"variant": v, "seed_index": i, **regression_metrics(y, pred),
                         "epochs_run": len(hist.val_mse)})
            print(f"{v:18s} seed {seed}: " + " ".join(f"{k}={rows[-1][k]:.4f}" for k in ("mse", "mae", "src")))
    return rows


def load_stage04_model(profile: str, data: dict, info: dict, cfg, seed_index: int = 0) -> JRPP:
    """JRPP with the best weights stage 04 saved for ``seed_index``."""
    ckpt = paths.models_dir(profile) / "jrpp" / f"seed{seed_index}" / "best.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: missing - run the jrpp stage (04) first")
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], JRPPConfig.from_cfg(cfg),
                 bank=data["train"])
    model.load_state_dict(load_checkpoint(ckpt)["model"])
    model.tta_scales = load_tta_scales(ckpt.parent, cfg.tta_scales)   # chosen on val in 04
    return model.eval()


def tta_sensitivity(model: JRPP, data: dict, cfg, t_values, seed: int) -> pd.DataFrame:
    """Test metrics for each number of perturbations T (T = 0: no perturbation)."""
    y = data["test"]["y"].numpy()
    rows = []
    for t in t_values:
        pred = (predict(model, data["test"], 512) if t == 0 else
                predict_tta(model, data["test"], int(t), getattr(model, "tta_scales", cfg.tta_scales),
                            seed=seed))
        rows.append({"T": int(t), **regression_metrics(y, pred)})
    return pd.DataFrame(rows)


def plot_ablation(df: pd.DataFrame):
    long = df.melt(id_vars=["variant"], value_vars=["mse", "mae", "src"], var_name="metric")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, m in zip(axes, ("mse", "mae", "src")):
        sns.barplot(long[long.metric == m], x="variant", y="value", ax=ax, errorbar="sd",
                    color="tab:blue")
        ax.set(title=m.upper(), xlabel="", ylabel="")
        ax.tick_params(axis="x", rotation=35)
        lo = long.loc[long.metric == m, "value"]
        ax.set_ylim(max(0.0, lo.min() - 0.15 * (lo.max() - lo.min() + 1e-9)), None)
    fig.tight_layout()
    return fig


def order_variants(df: pd.DataFrame) -> pd.DataFrame:
    order = ["full", *TRAINED_VARIANTS, "w/o perturbation"]
    return df.assign(_o=df["variant"].map({v: i for i, v in enumerate(order)})).sort_values(
        ["_o", "seed_index"]).drop(columns="_o").reset_index(drop=True)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby("variant", sort=False)[["mse", "mae", "src"]]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).fillna(0.0).add_suffix("_std"))
    out.insert(0, "seeds", df.groupby("variant", sort=False).size())
    return out.reset_index()


def check_seeds(n_seeds: int, cfg) -> int:
    if n_seeds > int(cfg.n_seeds):
        raise ValueError(f"ablations.n_seeds = {n_seeds} exceeds the {cfg.n_seeds} seeds stage 04 trained")
    return n_seeds

