"""The stage registry: every DVC stage of the study, once - its notebook, what it reads from
earlier stages, what it writes, the reports it publishes (each with the paper table or figure
it mirrors), the plots DVC draws from them, and the data it needs.

Everything else is derived from here: ``dvc.yaml`` (:mod:`.dvcgen`; a test fails when the
committed file drifts), the runner's list of stages and of the reports a stage must write
(:mod:`.runner`), the results page's grouping and "mirrors" notes, and which stages a profile
runs (:func:`applicable`). The code a stage depends on and the params.yaml knobs it reads are
not declared here: :mod:`.scan` finds them in the notebook and the modules it imports.

Paths are templates: ``{data}`` = ``data/<profile>``, ``{models}`` = ``models/<profile>``,
``{reports}`` = the profile's reports folder. A report path is relative to the reports folder
and may hold one brace group (``tables/table2_main.{md,csv,tex}``). Every notebook stage
also writes ``notebooks/<notebook>.ipynb`` (the executed copy, DVC-cached) and
``timings/<stage>.json`` (git-ignored); they are added here, not listed.

Adding a stage: one :class:`Stage` below (and its notebook); ``python -m smpp_utils dvc-yaml``
rewrites dvc.yaml. Adding a report to a stage: one :class:`Report` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# What each data source offers; a stage runs on a profile only if its source offers every
# capability the stage ``needs`` (so `make repro` never starts a stage that cannot run).
SOURCE_CAPABILITIES = {
    "sim": frozenset({"images", "categories", "simulator"}),   # SMPD-Sim written by the simulator
    "smpd": frozenset({"images", "categories"}),               # the official SMPD files
    "smp_video": frozenset({"smp_video"}),                     # SMP-Video: text + metadata, no frames
}
SMPD = frozenset({"images", "categories"})       # what the SMPD stages need


@dataclass(frozen=True)
class Plot:
    """A ``dvc plots`` definition of a report CSV (x / y are its columns)."""
    x: str
    y: str
    title: str
    template: str | None = None    # a dvc template (linear when None)


@dataclass(frozen=True)
class Report:
    """One report output (or a brace group of them) and what it mirrors."""
    path: str                      # relative to the reports folder, e.g. "tables/table2_main.{md,csv}"
    mirrors: str = ""              # the paper table / figure it reproduces ("" = a file of its own)
    plot: Plot | None = None       # dvc plots definition (the path must end in .csv)
    metric: bool = False           # a DVC metric (``dvc metrics show``)

    def files(self) -> list[str]:
        return expand(self.path)


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: str | None           # notebooks/<notebook>.ipynb; None = a package command
    title: str                     # heading on the results page
    reads: tuple[str, ...] = ()    # files/folders of earlier stages (templates)
    writes: tuple[str, ...] = ()   # data / model outputs, DVC-cached (templates)
    reports: tuple[Report, ...] = ()
    needs: frozenset = frozenset()  # capabilities of the data source (SOURCE_CAPABILITIES)
    always_changed: bool = False

    def report_files(self) -> list[str]:
        """Every report file the stage must write, relative to the reports folder."""
        out = [f for r in self.reports for f in r.files()]
        if self.notebook:
            out.append(f"timings/{self.name}.json")
        return out


def expand(path: str) -> list[str]:
    """``a.{md,csv}`` -> ``[a.md, a.csv]`` (one brace group)."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [path[:m.start()] + alt + path[m.end():] for alt in m.group(1).split(",")]


def R(path: str, mirrors: str = "", **kw) -> Report:
    return Report(path, mirrors, **kw)


DATA_JSON = "{reports}/metrics/data.json"

STAGES: tuple[Stage, ...] = (
    Stage("check", None, "Pre-flight: params.yaml and the external inputs, validated and hashed",
          writes=("{data}/external/source.json", "{data}/external/checkpoint.json"),
          always_changed=True),
    Stage("data", "01_data", "Data: the canonical table, splits and how the data compare with real SMPD",
          needs=SMPD,
          reads=("{data}/external/source.json",),
          writes=("{data}/raw", "{data}/posts.parquet", "{data}/splits.parquet"),
          reports=(R("tables/table1_datasets.{md,csv}", "JRPP Table 1"),
                   R("tables/table1_reported_in_paper.{md,csv}", "JRPP Table 1 (as reported in the paper)"),
                   R("figures/fig3_distributions.{png,pdf}", "JRPP Figure 3"),
                   R("figures/fig_label_marginal.{png,pdf}", "label marginal vs real SMPD (ours)"),
                   R("tables/data_calibration.{md,csv}", "SMPD-Sim calibration against real SMPD facts (ours)"),
                   R("figures/fig_label_acf.{png,pdf}", "label autocorrelation by Pid lag vs real SMPD (ours)"),
                   R("figures/fig_label_acf.csv",
                     plot=Plot("lag", "acf", "Label autocorrelation by Pid lag, real SMPD vs this profile's data (notebook 01)",
                               "lines_by_dataset")),
                   R("metrics/data.json"))),
    Stage("prototypes", "02_prototypes", "CLIP and the diverse 256-shot prototypes",
          needs=SMPD,
          reads=("{data}/external/checkpoint.json", "{data}/raw", "{data}/posts.parquet", "{data}/splits.parquet"),
          writes=("{data}/emb", "{data}/prototypes.npz", "{models}/clip_pretrain.pt"),
          reports=(R("figures/fig_prototypes_tsne.{png,pdf}", "Paper A prototypes (t-SNE)"),
                   R("figures/fig_prototypes_tsne.csv",
                     plot=Plot("x", "y", "t-SNE of the visual prototypes (one point per subcategory)", "scatter")),
                   R("metrics/prototypes.json"))),
    Stage("finetune", "03_prompt_finetune", "Dual-grained prompt fine-tuning (77-way classifier)",
          needs=SMPD,
          reads=("{data}/raw", "{data}/posts.parquet", "{data}/splits.parquet", "{data}/prototypes.npz",
                 "{models}/clip_pretrain.pt"),
          writes=("{data}/features/clipft.npz", "{data}/predictions/direct_regression.parquet",
                  "{models}/clipft.pt"),
          reports=(R("tables/paperA_accuracy.{md,csv}", "Paper A 77-way classifier accuracy"),
                   R("metrics/finetune.json"))),
    Stage("jrpp", "04_jrpp", "JRPP and the 12 baselines",
          needs=SMPD,
          reads=("{data}/posts.parquet", "{data}/splits.parquet", "{data}/emb", DATA_JSON),
          writes=("{data}/predictions/jrpp", "{models}/jrpp"),
          reports=(R("tables/table2_main.{md,csv,tex}", "JRPP Table 2"),
                   R("tables/table2_main_paper_reported.csv", "JRPP Table 2 (as reported in the paper)"),
                   R("metrics/jrpp.json"))),
    Stage("boosting", "05_boosting", "Paper A stage 2: LightGBM / CatBoost",
          needs=SMPD,
          reads=("{data}/posts.parquet", "{data}/splits.parquet", "{data}/emb", "{data}/features/clipft.npz",
                 "{data}/predictions/direct_regression.parquet", DATA_JSON),
          writes=("{data}/features/metadata.parquet", "{data}/predictions/boosting.parquet"),
          reports=(R("tables/paperA_main.{md,csv}", "Paper A main results table"),
                   R("figures/fig_boosting_importance.{png,pdf}", "Paper A feature importance (ours)"),
                   R("figures/fig_boosting_importance.csv",
                     plot=Plot("importance", "feature", "LightGBM on metadata + CLIPFT, top 20 feature importances",
                               "bar_horizontal_sorted")),
                   R("metrics/boosting.json"))),
    Stage("ablations", "06_ablations",
          "JRPP ablations, sensitivity to k / M / T, case study",
          needs=SMPD,
          reads=("{data}/posts.parquet", "{data}/splits.parquet", "{data}/emb", "{data}/raw",
                 "{data}/predictions/jrpp", "{models}/jrpp"),
          reports=(R("tables/fig4_jrpp_ablation.md", "JRPP Figure 4"),
                   R("tables/fig4_jrpp_ablation.csv",
                     plot=Plot("src_mean", "variant", "JRPP ablation (Figure 4), test SRC (mean over seeds)",
                               "bar_horizontal_sorted")),
                   R("figures/fig4_jrpp_ablation.{png,pdf}", "JRPP Figure 4"),
                   R("figures/fig4_jrpp_ablation.csv",
                     plot=Plot("src", "variant", "JRPP ablation (Figure 4), test SRC of each seed", "strip")),
                   R("tables/fig5_tta_sensitivity.md", "JRPP Figure 5 (T)"),
                   R("tables/fig5_tta_sensitivity.csv",
                     plot=Plot("T", "src_mean", "JRPP test SRC (mean over seeds) against test-time perturbations T (Figure 5)")),
                   R("tables/fig5_k.md", "JRPP Figure 5 (k)"),
                   R("tables/fig5_k.csv",
                     plot=Plot("k", "src_mean", "JRPP test SRC (mean over seeds) against retrieved neighbours k (Figure 5)")),
                   R("tables/fig5_m.md", "JRPP Figure 5 (M)"),
                   R("tables/fig5_m.csv",
                     plot=Plot("M", "src_mean", "JRPP test SRC (mean over seeds) against MoL components M (Figure 5)")),
                   R("figures/fig5_k.{png,pdf}", "JRPP Figure 5 (k)"),
                   R("figures/fig5_k.csv",
                     plot=Plot("k", "src", "JRPP test SRC of each seed against k (Figure 5)", "scatter")),
                   R("figures/fig5_m.{png,pdf}", "JRPP Figure 5 (M)"),
                   R("figures/fig5_m.csv",
                     plot=Plot("M", "src", "JRPP test SRC of each seed against M (Figure 5)", "scatter")),
                   R("figures/fig5_t.{png,pdf}", "JRPP Figure 5 (T)"),
                   R("figures/fig5_t.csv",
                     plot=Plot("T", "src", "JRPP test SRC of each seed against T (Figure 5)", "scatter")),
                   R("figures/fig6_case_study.{png,csv,pdf}", "JRPP Figure 6 (top)"),
                   R("figures/fig6_score_distribution.{png,pdf}", "JRPP Figure 6 (bottom)"),
                   R("figures/fig6_score_distribution.csv",
                     plot=Plot("rank", "mol_score", "MoL scores of the top-50 retrieved posts of the case-study queries (Figure 6)",
                               "lines_by_query")),
                   R("metrics/ablations.json"))),
    Stage("tail", "07_tail_analysis", "Tail analysis",
          needs=SMPD,
          reads=("{data}/posts.parquet", "{data}/splits.parquet", "{data}/predictions/jrpp",
                 "{data}/predictions/boosting.parquet"),
          reports=(R("tables/table3_tail.md", "JRPP Table 3"),
                   R("tables/table3_tail.csv",
                     plot=Plot("top10_mae", "model",
                               "Tail MAE on the top 10% most popular test posts, mean over seeds (JRPP Table 3)",
                               "bar_horizontal_sorted")),
                   R("tables/table3_reported_in_paper.{md,csv}", "JRPP Table 3 (as reported in the paper)"),
                   R("figures/fig_tail_error_by_decile.{png,pdf}", "error by popularity decile (Paper A tail discussion)"),
                   R("figures/fig_tail_error_by_decile.csv",
                     plot=Plot("decile", "mae", "Test MAE by true-popularity decile (seeds pooled), one line per model",
                               "lines_by_model")),
                   R("metrics/tail.json"))),
    Stage("head_to_head", "08_head_to_head", "Head-to-head: both papers and the best baseline on the same test posts",
          needs=SMPD,
          reads=("{data}/raw", "{data}/posts.parquet", "{data}/splits.parquet", "{data}/features/clipft.npz",
                 "{data}/features/metadata.parquet", "{data}/predictions/jrpp",
                 "{data}/predictions/boosting.parquet", DATA_JSON),
          reports=(R("tables/head_to_head.{md,csv}", "both papers on one split (ours)"),
                   R("tables/head_to_head_tests.csv", "paired-bootstrap test of each claim (ours)"),
                   R("figures/fig_head_to_head.{png,pdf}", "both papers on one split (ours)"),
                   R("figures/fig_head_to_head.csv",
                     plot=Plot("src_mean", "model", "Head-to-head, test SRC (mean over seeds) on the same test posts",
                               "bar_horizontal_sorted")),
                   R("metrics/head_to_head.json"))),
    Stage("regimes", "09_regimes", "Regime sweep: the main rows on every SMPD-Sim regime",
          needs=frozenset({"simulator"}),
          reads=("{models}/clip_pretrain.pt",),
          writes=("{data}/regimes",),
          reports=(R("tables/regimes.{md,csv}", "when each paper's mechanism helps (ours)"),
                   R("tables/regimes_significance.{md,csv}",
                     "which claims hold on which regime: paired bootstrap p / BH q (ours)"),
                   R("figures/regimes.{png,pdf}", "when each paper's mechanism helps (ours)"),
                   R("figures/regimes.csv",
                     plot=Plot("src_mean", "model", "Regime sweep, test SRC (mean over seeds) per model, one panel per regime",
                               "bars_by_regime")),
                   R("metrics/regimes.json"))),
    Stage("paper_a_ablations", "10_paperA_ablations",
          "Paper A ablations: branches, prototypes, selection, tail, categories",
          needs=SMPD,
          reads=("{data}/raw", "{data}/posts.parquet", "{data}/splits.parquet", "{data}/emb",
                 "{data}/features/clipft.npz", "{data}/features/metadata.parquet",
                 "{data}/predictions/boosting.parquet", "{data}/predictions/direct_regression.parquet",
                 "{data}/prototypes.npz", "{models}/clip_pretrain.pt"),
          writes=("{data}/predictions/official_test.parquet", "{data}/submission_paperA.json"),
          reports=(R("tables/paperA_ablation.{md,csv}", "Paper A ablations (branches, prototypes, selection)"),
                   R("tables/paperA_tail_oversampling.{md,csv}", "Paper A tail oversampling (popularity > 12)"),
                   R("tables/paperA_category_mae.{md,csv}", "Paper A per-category error discussion"),
                   R("figures/paperA_tail_shift.{png,pdf}", "Paper A Figure 3 (prediction shift)"),
                   R("figures/paperA_tail_shift.csv",
                     plot=Plot("value", "series", "Paper A, test predictions with and without tail oversampling (and the labels)",
                               "histogram_by_series")),
                   R("metrics/paperA_ablations.json"))),
    Stage("smp_video", "12_smp_video", "SMP-Video (real): the study's rows on real posts, text + metadata",
          needs=frozenset({"smp_video"}),
          reads=("{data}/external/source.json",),
          writes=("{data}/posts.parquet", "{data}/splits.parquet", "{data}/emb", "{data}/predictions",
                  "{data}/submission_smp_video.csv"),
          reports=(R("tables/table2_smp_video.{md,csv}", "JRPP Table 2, on a second real dataset"),
                   R("tables/head_to_head_smp_video.{md,csv}", "the claims tested on real posts (ours)"),
                   R("figures/smp_video.{png,pdf}", "the claims tested on real posts (ours)"),
                   R("figures/smp_video.csv",
                     plot=Plot("src_mean", "model", "SMP-Video (real): test SRC by model (mean over seeds), "
                               "one point per split protocol", "strip")),
                   R("metrics/smp_video.json"))),
)

# the results page: after every other stage, depends on everything they publish
RESULTS = Stage("results", None, "The results page (markdown, and HTML with the figures inlined)",
                writes=("{reports}/index.html",),
                reports=(R("index.md"), R("metrics/summary.json", metric=True)))

BY_NAME = {s.name: s for s in (*STAGES, RESULTS)}
NOTEBOOK_STAGES = {s.name: s.notebook for s in STAGES if s.notebook}


def capabilities(source: str) -> frozenset:
    if source not in SOURCE_CAPABILITIES:
        raise ValueError(f"unknown data source {source!r}; expected one of {sorted(SOURCE_CAPABILITIES)}")
    return SOURCE_CAPABILITIES[source]


def applicable(source: str) -> list[Stage]:
    """The stages a profile with data source ``source`` runs, in order (results last)."""
    caps = capabilities(source)
    return [s for s in STAGES if s.needs <= caps] + [RESULTS]


def not_applicable(source: str) -> list[Stage]:
    """The notebook stages that cannot run on ``source`` (the results page says so)."""
    caps = capabilities(source)
    return [s for s in STAGES if not s.needs <= caps]


def stage(name: str) -> Stage:
    if name not in BY_NAME:
        raise KeyError(f"unknown stage {name!r}; expected one of {sorted(BY_NAME)}")
    return BY_NAME[name]


def mirrors() -> dict[str, tuple[str, str]]:
    """report stem -> (stage, what it mirrors), for the results page (first mention wins)."""
    out: dict[str, tuple[str, str]] = {}
    for s in STAGES:
        for r in s.reports:
            for f in r.files():
                stem = f.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                if r.mirrors and stem not in out:
                    out[stem] = (s.name, r.mirrors)
    return out
