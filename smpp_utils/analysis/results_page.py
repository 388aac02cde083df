"""The results page: ``<reports>/index.md``, every table (with its caption) and every figure
of a profile, grouped by the notebook that makes it, each with the paper table/figure it
mirrors. Written by the last DVC stage (``results``); also ``<reports>/metrics/summary.json``,
the headline test numbers that ``dvc metrics show`` prints (the per-stage metrics JSON are
plain outputs, too wide for one table).

Byte-stable: the page holds only the files' contents and names, in a fixed order; no dates.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core import paths
from ..core.io import write_json, write_text

# notebook stage -> (notebook, what it is about)
NOTEBOOKS = {
    "data": ("01_data", "Data: SMPD or SMPD-Sim, canonical table, splits"),
    "prototypes": ("02_prototypes", "CLIP and the diverse 256-shot prototypes (Paper A Sec. 3.1)"),
    "finetune": ("03_prompt_finetune", "Dual-grained prompt fine-tuning (Paper A Sec. 3.2-3.3)"),
    "jrpp": ("04_jrpp", "JRPP and the 12 baselines (JRPP Table 2)"),
    "boosting": ("05_boosting", "Paper A stage 2: LightGBM / CatBoost"),
    "ablations": ("06_ablations", "JRPP ablations (Figure 4), sensitivity to k / M / T (Figure 5), case study (Figure 6)"),
    "tail": ("07_tail_analysis", "Tail analysis (JRPP Table 3)"),
    "regimes": ("09_regimes", "Regime sweep: the main rows on every SMPD-Sim regime"),
    "paper_a_ablations": ("10_paperA_ablations", "Paper A ablations: branches, prototypes, selection, tail, categories"),
}

# artefact stem (tables/<stem>.md, figures/<stem>.png) -> (stage, what it mirrors)
CATALOGUE = {
    "table1_datasets": ("data", "JRPP Table 1"),
    "table1_reported_in_paper": ("data", "JRPP Table 1 (as reported in the paper)"),
    "fig3_distributions": ("data", "JRPP Figure 3"),
    "fig_label_marginal": ("data", "label marginal vs real SMPD (ours)"),
    "fig_prototypes_tsne": ("prototypes", "Paper A prototypes (t-SNE)"),
    "paperA_accuracy": ("finetune", "Paper A 77-way classifier accuracy"),
    "table2_main": ("jrpp", "JRPP Table 2"),
    "table2_beta_sweep": ("jrpp", "JRPP IB beta sensitivity"),
    "paperA_main": ("boosting", "Paper A main results table"),
    "fig_boosting_importance": ("boosting", "Paper A feature importance (ours)"),
    "fig4_jrpp_ablation": ("ablations", "JRPP Figure 4"),
    "fig5_tta_sensitivity": ("ablations", "JRPP Figure 5 (T)"),
    "fig5_t": ("ablations", "JRPP Figure 5 (T), plot"),
    "fig5_k": ("ablations", "JRPP Figure 5 (k)"),
    "fig5_m": ("ablations", "JRPP Figure 5 (M)"),
    "fig6_case_study": ("ablations", "JRPP Figure 6 (top)"),
    "fig6_score_distribution": ("ablations", "JRPP Figure 6 (bottom)"),
    "table3_tail": ("tail", "JRPP Table 3"),
    "table3_reported_in_paper": ("tail", "JRPP Table 3 (as reported in the paper)"),
    "fig_tail_error_by_decile": ("tail", "error by popularity decile (Paper A tail discussion)"),
    "regimes": ("regimes", "when each paper's mechanism helps (issue 11, ours)"),
    "regimes_significance": ("regimes", "which claims hold on which regime: paired bootstrap p / BH q (ours)"),
    "paperA_ablation": ("paper_a_ablations", "Paper A ablations (feature-level branches, prototypes, selection)"),
    "paperA_tail_oversampling": ("paper_a_ablations", "Paper A tail oversampling (popularity > 12)"),
    "paperA_tail_shift": ("paper_a_ablations", "Paper A Figure 3 (prediction shift)"),
    "paperA_category_mae": ("paper_a_ablations", "Paper A per-category error discussion"),
}

# headline test numbers for ``dvc metrics show``: (metrics file, dotted key) -> summary key
HEADLINE_SUFFIXES = ("src", "src_mean", "test_top1", "test_top5")


def _stem_order(stage: str) -> list[str]:
    return [s for s, (st, _) in CATALOGUE.items() if st == stage]


def _artefacts(reports: Path) -> dict[str, dict[str, Path]]:
    """stem -> {"table": md, "figure": png} found under ``reports``."""
    found: dict[str, dict[str, Path]] = {}
    for md in sorted((reports / "tables").glob("*.md")):
        found.setdefault(md.stem, {})["table"] = md
    for png in sorted((reports / "figures").glob("*.png")):
        found.setdefault(png.stem, {})["figure"] = png
    return found


def _section(stem: str, files: dict[str, Path], mirrors: str | None, reports: Path) -> list[str]:
    rel = lambda p: p.relative_to(reports).as_posix()  # noqa: E731
    lines = [f"### `{stem}`" + (f" - mirrors {mirrors}" if mirrors else ""), ""]
    if "table" in files:
        lines += [files["table"].read_text().rstrip("\n"), ""]
        others = sorted(p for p in files["table"].parent.glob(f"{stem}.*") if p.suffix != ".md")
        if others:
            lines += ["Files: " + ", ".join(f"[{p.suffix[1:]}]({rel(p)})" for p in others), ""]
    if "figure" in files:
        lines += [f"![{stem}]({rel(files['figure'])})", ""]
        data = files["figure"].with_suffix(".csv")
        if data.is_file():
            lines += [f"Numbers behind the figure: [{rel(data)}]({rel(data)})", ""]
    return lines


def render(profile: str) -> str:
    reports = paths.final_reports_dir(profile)
    found = _artefacts(reports)
    out = [f"# Results ({profile} profile)", "",
           "Every table and figure the pipeline wrote for this profile, grouped by the notebook "
           "that makes it (regenerated by `make repro`; captions say whether the data are "
           "simulated). Executed notebooks: `notebooks/` beside this page (DVC outputs).", ""]
    running = sorted((reports / ".running").glob("*.json")) if (reports / ".running").is_dir() else []
    if running:
        out += ["> **Stale:** stage(s) " + ", ".join(p.stem for p in running)
                + " did not finish their last run; their results below are from the run before.", ""]
    shown = set()
    for stage, (nb, title) in NOTEBOOKS.items():
        stems = [s for s in _stem_order(stage) if s in found]
        stems += sorted(s for s in found if s.startswith(tuple(_stem_order(stage)))
                        and s not in stems and s not in CATALOGUE)
        out += [f"## {nb} - {title}", "", f"Notebook: [`notebooks/{nb}.ipynb`](notebooks/{nb}.ipynb)", ""]
        for stem in stems:
            out += _section(stem, found[stem], CATALOGUE.get(stem, (None, None))[1], reports)
            shown.add(stem)
    rest = sorted(set(found) - shown)
    if rest:
        out += ["## Other outputs", ""]
        for stem in rest:
            out += _section(stem, found[stem], None, reports)
    return "\n".join(out).rstrip("\n") + "\n"


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield f"{prefix}{k}", v


def headline(profile: str) -> dict:
    """``{stage: {key: value}}``: the test SRC (and classifier top-k) of every model, from the
    per-stage metrics JSON (no timings, no per-split detail)."""
    metrics = paths.final_reports_dir(profile) / "metrics"
    out = {}
    for stage in ("data", "finetune", "jrpp", "boosting"):
        path = metrics / f"{stage}.json"
        if not path.is_file():
            continue
        flat = dict(_flatten(json.loads(path.read_text())))
        keep = {}
        for key, value in sorted(flat.items()):
            leaf = key.rsplit(".", 1)[-1]
            if leaf.endswith(HEADLINE_SUFFIXES) and "val" not in leaf and ".val." not in key \
                    and "seconds" not in key:
                short = key.replace("results.", "").replace("baselines.", "").replace("_mean", "")
                keep[short] = round(float(value), 4)
        if keep:
            out[stage] = keep
    return out


def write(profile: str) -> list[Path]:
    reports = paths.final_reports_dir(profile)
    return [write_text(reports / "index.md", render(profile)),
            write_json(reports / "metrics" / "summary.json", headline(profile))]
