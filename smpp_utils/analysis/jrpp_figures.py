"""JRPP Figures 4-6 of notebook 06: the ablation bars over seeds, the sensitivity to k, M
and T (Figure 5) and the case study of retrieved posts with their MoL scores (Figure 6).

Figure 4. The rows come from :mod:`smpp_utils.jrpp.ablation` (stage 04's predictions for
"full" / "w/o perturbation", the other variants trained there); :func:`plot_ablation_bars`
draws them with bars that start at 0 (a cut-off base exaggerates differences) and the
standard deviation over seeds as error bars.

Figure 5. k (retrieved neighbours) and M (MoL components) change the network, so each grid
point is trained over the first ``n_seeds`` seeds of stage 04 with the same data and
trainer; the point equal to stage 04's value *is* stage 04's model, so its metrics are read
from ``data/<profile>/predictions/jrpp/jrpp_seed{i}.parquet`` instead of retraining
(:func:`sweep_plan`); the trained points use the first ``sweep_seeds`` seeds (a knob:
each trained point costs a full JRPP fit per seed, the stage-04 point nothing). Every point
is evaluated as the full model: with test-time
perturbation at the noise scales chosen on validation (as stage 04 does). The shortlist is
raised to ``max(shortlist, k)`` when a grid k exceeds it; k' = floor(kprime_frac k) follows
k through :attr:`JRPPConfig.kprime`. T is inference only over the ``n_seeds`` checkpoints of
stage 04 (:func:`smpp_utils.jrpp.ablation.tta_sensitivity` per seed).

Figure 6. :func:`retrieve` calls the model's own two-stage retrieval at evaluation,
``JRPP.mol_topk`` (faiss shortlist over the bank's MoL shortlist vectors, then the full gated
MoL score of Eq. 5 on it, top n: the code path training and prediction use) for the bank
positions and scores. With ``n`` <= the model's shortlist the top n are exactly the model's
top n; for the top-50 score distribution the shortlist is widened to 50 when it is shorter.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib import pyplot as plt

from ..core.metrics import regression_metrics
from ..core.reports import name_dataset, untruncate_bars
from ..core.trainer import predict
from ..data.provenance import with_note
from ..jrpp import ablation
from ..jrpp.experiment import seeds, train_jrpp, tta_choice
from ..jrpp.tta import predict_tta

METRICS = ("mse", "mae", "src")
# grid knob -> (JrppKnobs field, column / axis name)
SWEEPS = {"k": ("k", "k"), "M": ("n_mol", "M")}
FONT = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
        "ytick.labelsize": 10, "legend.fontsize": 10, "figure.titlesize": 12}


def parse_grid(spec) -> list[int]:
    """'5,10' -> [5, 10] (sorted, duplicates dropped); '' or None -> [] (sweep skipped)."""
    vals = sorted({int(v) for v in str(spec or "").replace(";", ",").split(",") if v.strip()})
    if any(v < 1 for v in vals):
        raise ValueError(f"grid {spec!r}: every value must be an integer >= 1")
    return vals


def point_overrides(field: str, value: int, cfg) -> dict:
    """JRPPConfig overrides of one grid point: the knob, and for k a shortlist >= k."""
    out = {field: int(value)}
    if field == "k":
        out["shortlist"] = max(int(cfg.shortlist), int(value))
    return out


def sweep_plan(name: str, values, cfg) -> list[dict]:
    """One entry per grid value: ``{name: v, "source": "stage 04" | "trained", "overrides"}``;
    the value stage 04 trained with is read from its predictions, not retrained."""
    field, col = SWEEPS[name]
    stage04 = int(getattr(cfg, field))
    return [{col: int(v), "source": "stage 04" if int(v) == stage04 else "trained",
             "overrides": {} if int(v) == stage04 else point_overrides(field, v, cfg)}
            for v in values]


def stage04_full_rows(profile: str, info: dict, data: dict, n_seeds: int) -> list[dict]:
    """Stage 04's 'full' rows (with TTA) per seed: the grid point equal to its k / M."""
    return [r for r in ablation.stage04_rows(profile, info, data, n_seeds) if r["variant"] == "full"]


def fit_point(data: dict, info: dict, cfg, seed: int, overrides: dict) -> dict:
    """Train one JRPP at ``overrides``; test metrics of the full model (TTA at the scales
    chosen on validation, as stage 04)."""
    t0 = time.time()
    model, hist = train_jrpp(data, info, cfg, seed, None, **overrides)
    choice = tta_choice(model, data, cfg, seed)
    pred = (predict_tta(model, data["test"], int(cfg.tta_T), choice["scales"], seed=seed)
            if choice is not None else predict(model, data["test"], 512))
    return {**regression_metrics(data["test"]["y"].numpy(), pred), "epochs_run": len(hist.val_mse),
            "seconds": time.time() - t0}


def sweep_rows(plan: list[dict], data: dict, info: dict, cfg, profile: str, n_seeds: int,
               train_seeds: int | None = None) -> list[dict]:
    """Seed-level test metrics of every grid point of ``plan`` (:func:`sweep_plan`): the
    stage-04 point over ``n_seeds`` seeds (read, free), the trained points over the first
    ``train_seeds`` (default ``n_seeds``; at most ``n_seeds``)."""
    train_seeds = n_seeds if train_seeds is None else int(train_seeds)
    if not 1 <= train_seeds <= n_seeds:
        raise ValueError(f"ablations.sweep_seeds = {train_seeds} must be in [1, n_seeds = {n_seeds}]")
    col = next(k for k in plan[0] if k not in ("source", "overrides")) if plan else None
    rows, s04 = [], None
    for p in plan:
        for i, seed in enumerate(seeds(cfg)[:n_seeds if p["source"] == "stage 04" else train_seeds]):
            if p["source"] == "stage 04":
                s04 = s04 if s04 is not None else stage04_full_rows(profile, info, data, n_seeds)
                m = {k: s04[i][k] for k in METRICS}
            else:
                m = fit_point(data, info, cfg, seed, p["overrides"])
            rows.append({col: p[col], "seed_index": i, "source": p["source"], **m})
            print(f"{col}={p[col]:<4d} seed {seed} ({p['source']}): "
                  + " ".join(f"{k}={m[k]:.4f}" for k in METRICS))
    return rows


def t_rows(profile: str, data: dict, info: dict, cfg, t_values, n_seeds: int) -> list[dict]:
    """Figure 5 (T): test metrics per T for each of stage 04's first ``n_seeds`` checkpoints."""
    rows = []
    for i, seed in enumerate(seeds(cfg)[:n_seeds]):
        model = ablation.load_stage04_model(profile, data, info, cfg, i)
        sens = ablation.tta_sensitivity(model, data, cfg, t_values, seed=seed)
        rows += [{"T": int(r["T"]), "seed_index": i, "source": "stage 04",
                  **{k: float(r[k]) for k in METRICS}} for r in sens.to_dict("records")]
    return rows


def sweep_summary(rows: pd.DataFrame, col: str) -> pd.DataFrame:
    """Per value of ``col``: seeds, mean and sample std (ddof 1; 0 for one seed) of each metric."""
    g = rows.groupby(col, sort=True)
    out = pd.DataFrame({"seeds": g.size()})
    for m in METRICS:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1).fillna(0.0)
    if "source" in rows:
        out["source"] = g["source"].first()
    return out.reset_index()


# ---------------------------------------------------------------------------- plots
def plot_ablation_bars(df: pd.DataFrame, label: str, n_seeds: int):
    """Figure 4: one panel per metric, mean over seeds, error bars = sd over seeds, value
    axes starting at 0."""
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
        for ax, m in zip(axes, METRICS):
            sns.barplot(df, x="variant", y=m, ax=ax, errorbar="sd", color="tab:blue", capsize=0.2)
            ax.set(title=m.upper(), xlabel="", ylabel="")
            ax.tick_params(axis="x", rotation=35)
            for t in ax.get_xticklabels():
                t.set_horizontalalignment("right")
        fig.suptitle(f"JRPP ablation (Figure 4), test split, {label}; mean ± sd over {n_seeds} seed(s)")
        fig.tight_layout()
    return untruncate_bars(fig)


def plot_sweep(rows: pd.DataFrame, col: str, what: str, label: str, mark: int | None = None):
    """Figure 5: one panel per metric against ``col``, mean over seeds with a ± sd band;
    ``mark``: stage 04's value (dotted line)."""
    per = rows.groupby(col).size()
    n = f"{per.max()}" if per.min() == per.max() else f"{per.min()}-{per.max()}"
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
        for ax, m in zip(axes, METRICS):
            sns.lineplot(rows, x=col, y=m, ax=ax, errorbar="sd", marker="o", color="tab:blue")
            ax.set(title=m.upper(), xlabel=col, ylabel="")
            ax.set_xticks(sorted(rows[col].unique()))
            if mark is not None:
                ax.axvline(mark, color="grey", linestyle=":", label=f"stage 04 ({col}={mark})")
        if mark is not None:
            axes[0].legend(loc="best")
        fig.suptitle(f"JRPP sensitivity to {what} (Figure 5), test split, {label}; "
                     f"mean ± sd over {n} seed(s)")
        fig.tight_layout()
    return name_dataset(fig, label)


# ---------------------------------------------------------------------------- Figure 6
def pick_queries(y: np.ndarray) -> dict[str, int]:
    """Three distinct test positions: highest, median and lowest true popularity (ties by
    position, a stable sort: deterministic)."""
    y = np.asarray(y, dtype=float)
    if len(y) < 3:
        raise ValueError(f"the case study needs >= 3 test posts, got {len(y)}")
    order = np.argsort(y, kind="stable")
    return {"high": int(order[-1]), "median": int(order[(len(y) - 1) // 2]), "low": int(order[0])}


def fig4_caption(label: str, sim: bool, n_seeds: int) -> str:
    """``label``: ``data.prepare.dataset_label`` (``sim`` is implied by it and kept for callers)."""
    return (f"Figure 4 (table) - JRPP ablation on the test split, {with_note(label, '; ')}"
            f"; mean ± std over {n_seeds} seed(s).")


def sweep_note(name: str, value, n_seeds: int, sweep_seeds: int) -> str:
    """Caption note of a Figure 5 k / M sweep: which point is stage 04's model."""
    return (f"The {name} = {value} point is stage 04's model ({n_seeds} seed(s)); the others are "
            f"trained here with the same data and trainer ({sweep_seeds} seed(s)).")


@torch.no_grad()
def retrieve(model, split: dict, rows, n: int, k0: int | None = None):
    """The model's evaluation retrieval for the posts ``rows`` of ``split``: (bank positions
    [B, n], MoL scores [B, n]) best first. Shortlist ``k0`` (default max(model shortlist, n))
    by the faiss index of the current weights, then the gated MoL score (Eq. 5), top n
    (Eq. 2). A post carrying a bank position (``bank_pos`` >= 0: a train post) never
    retrieves itself."""
    if not (model.cfg.retrieval and model.cfg.mol):
        raise ValueError("retrieve: needs a JRPP with the MoL retriever (retrieval=True, mol=True)")
    model.eval()
    rows = torch.as_tensor(np.asarray(rows), dtype=torch.int64)
    b = {k: v[rows] for k, v in split.items() if torch.is_tensor(v) and len(v) == len(split["y"])}
    xq = model.encode(b)
    excl = b["bank_pos"].cpu().numpy() if "bank_pos" in b else None
    k0 = int(k0 or max(int(model.cfg.shortlist), n))
    ids, scores, _, _ = model.mol_topk(b, xq, n, k0, excl, fill=-torch.inf)
    return ids.numpy(), scores.float().numpy()


def case_study(model, data: dict, info: dict, n_show: int = 7, n_dist: int = 50):
    """(case, dist): ``case`` one row per shown post (rank 0 = the query, then its top
    ``n_show`` neighbours: Pid, label, MoL score); ``dist`` the MoL scores of the top
    ``n_dist`` retrieved for each of the three queries (:func:`pick_queries`)."""
    test, train = data["test"], data["train"]
    picks = pick_queries(test["y"].numpy())
    pos = list(picks.values())
    pred = predict(model, {k: v[pos] for k, v in test.items() if torch.is_tensor(v)}, 512)
    ids, sc = retrieve(model, test, pos, n_show, k0=max(int(model.cfg.shortlist), n_show))
    ids50, sc50 = retrieve(model, test, pos, n_dist)
    ytr = train["y"].numpy()
    case, dist = [], []
    for q, (role, p) in enumerate(picks.items()):
        qpid = int(info["pids"]["test"][p])
        case.append({"query": role, "query_pid": qpid, "rank": 0, "Pid": qpid,
                     "label": float(test["y"][p]), "pred": float(pred[q]), "mol_score": np.nan})
        case += [{"query": role, "query_pid": qpid, "rank": r + 1, "Pid": int(info["pids"]["train"][j]),
                  "label": float(ytr[j]), "pred": np.nan, "mol_score": float(sc[q, r])}
                 for r, j in enumerate(ids[q])]
        dist += [{"query": role, "query_pid": qpid, "rank": r + 1, "mol_score": float(s)}
                 for r, s in enumerate(sc50[q])]
    return pd.DataFrame(case), pd.DataFrame(dist)


def load_images(pids, posts: pd.DataFrame, root) -> dict[int, np.ndarray]:
    """{Pid: RGB array} of the posts' images (``img_path`` relative to ``root``)."""
    from PIL import Image

    from ..data.smpd import image_path

    where = posts.set_index("Pid")["img_path"]
    out = {}
    for pid in dict.fromkeys(int(p) for p in pids):
        if pid not in where.index:
            raise KeyError(f"Pid {pid}: not in the posts table (no image path)")
        f = image_path(root, str(where[pid]))
        if not f.is_file():
            raise FileNotFoundError(f"Pid {pid}: image {f} is missing")
        with Image.open(f) as im:
            out[pid] = np.asarray(im.convert("RGB"))
    return out


def plot_case_study(case: pd.DataFrame, images: dict, label: str):
    """Figure 6 (top): a row per query, the query's image then its top neighbours', each
    captioned with its MoL score and popularity label."""
    roles = list(dict.fromkeys(case["query"]))
    ncol = int(case["rank"].max()) + 1
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(len(roles), ncol, figsize=(1.8 * ncol, 2.8 * len(roles)), squeeze=False)
        for i, role in enumerate(roles):
            sub = case[case["query"] == role].sort_values("rank")
            for ax, r in zip(axes[i], sub.itertuples()):
                ax.imshow(images[int(r.Pid)])
                ax.set_xticks([])
                ax.set_yticks([])
                if r.rank == 0:
                    ax.set_title(f"query ({role})", fontsize=11, color="tab:red")
                    ax.set_xlabel(f"y={r.label:.2f}\npred={r.pred:.2f}", fontsize=10)
                    for s in ax.spines.values():
                        s.set(color="tab:red", linewidth=2.5)
                else:
                    ax.set_title(f"#{r.rank}", fontsize=10)
                    ax.set_xlabel(f"s={r.mol_score:.3f}\ny={r.label:.2f}", fontsize=10)
            for ax in axes[i][len(sub):]:
                ax.axis("off")
        fig.suptitle(f"JRPP case study (Figure 6), {label}: three test queries (highest, median, "
                     f"lowest popularity)\nand their top-{ncol - 1} retrieved train posts (stage 04, seed 0); "
                     "s = MoL score (Eq. 5), y = popularity label", fontsize=12)
        fig.tight_layout(h_pad=1.2)
    return name_dataset(fig, label)


def plot_score_distribution(dist: pd.DataFrame, label: str):
    """Figure 6 (bottom): the MoL scores of the top-n retrieved, one histogram per query."""
    n = int(dist["rank"].max())
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, dist["query"].nunique(), figsize=(11, 3.4), sharey=True, squeeze=False)
        for ax, (role, sub) in zip(axes[0], dist.groupby("query", sort=False)):
            sns.histplot(sub, x="mol_score", bins=15, ax=ax, color="tab:blue")
            ax.set(title=f"query: {role} (Pid {int(sub['query_pid'].iloc[0])})", xlabel="MoL score",
                   ylabel="retrieved posts")
        fig.suptitle(f"MoL scores of the top-{n} retrieved train posts of the three case-study "
                     f"queries (Figure 6), {label}")
        fig.tight_layout()
    return name_dataset(fig, label)


# ---------------------------------------------------------------------------- writing
def write_sweep(rows: list[dict], col: str, what: str, label: str, n_seeds: int, profile: str,
                table: str, figure: str, note: str = "") -> pd.DataFrame:
    """Figure 5 table (``tables/<table>.{md,csv}``, mean ± std per value) and line plot
    (``figures/<figure>.png`` + its seed-level CSV) of one sweep; an empty sweep (grid "")
    writes both, saying so. Returns the summary."""
    from ..core import paths
    from ..core.reports import save_figure, write_table

    caption = (f"Figure 5 ({col}) - JRPP test metrics against {what}, {with_note(label, '; ')}"
               f"; mean ± std over the seeds in column 'seeds' (at most {n_seeds}).{(' ' + note) if note else ''}")
    df = pd.DataFrame(rows)
    if df.empty:
        summary = pd.DataFrame(columns=[col, "seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))])
        write_table(summary, paths.tables_dir(profile), table, caption + " Not run: empty grid.")
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{what}: not run (empty grid) - {label}", ha="center", va="center")
        save_figure(fig, paths.figures_dir(profile) / f"{figure}.png", data=summary)
        return summary
    summary = sweep_summary(df, col)
    write_table(summary, paths.tables_dir(profile), table, caption)
    keep = [col, "seed_index", "source", *METRICS]
    s04 = df.loc[df["source"] == "stage 04", col] if col != "T" and "source" in df else pd.Series([], dtype=int)
    mark = int(s04.iloc[0]) if len(s04) else None
    save_figure(plot_sweep(df, col, what, label, mark), paths.figures_dir(profile) / f"{figure}.png",
                data=df[keep])
    return summary


def sweep_metrics(rows: list[dict], summary: pd.DataFrame, col: str) -> dict:
    """For metrics/ablations.json: the seed-level rows and the per-value summary."""
    rnd = lambda v: (round(float(v), 6) if isinstance(v, (float, np.floating)) else  # noqa: E731
                     int(v) if isinstance(v, np.integer) else v)
    return {"per_seed": [{k: rnd(v) for k, v in r.items()} for r in rows],
            "summary": {str(int(r[col])): {k: rnd(v) for k, v in r.items() if k != col}
                        for r in summary.to_dict("records")}}
