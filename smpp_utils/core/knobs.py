"""Every knob of params.yaml: its type, allowed values and meaning, and the check that
refuses nonsense before any stage writes a file.

One dataclass per params.yaml section (the field order is the file's). A field's annotation
is its type (``int``: an integer, never a bool and never ``3.0``; ``float``: any number;
``bool``; ``str``) and its :func:`knob` rule the allowed values. A field without a default is
required in every profile. Adding a knob = one field here + one line in params.yaml's base.

:func:`validate` (called by :func:`smpp_utils.core.config.load_params`, so by every notebook,
the pipeline runner and the pre-flight check) looks at ``base``, every profile block and the
active one, and raises one :class:`KnobError` listing every problem, one per line, each
naming ``profile.section.key``. Whether files named by a knob exist (``smpd_root``,
``clip_pretrained``) is the pipeline's pre-flight check, not this one.
"""

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

PROFILES = ("ci", "default", "paper", "rehearsal", "smp_video")
# Knobs whose values name entries of a registry higher up the package (``knob(registry=...)``):
# the registry is the one list; the pre-flight passes the registries to :func:`validate`
# (smpp_utils.pipeline.preflight.registries), so core never imports the layers above it.
REGISTRIES = {
    "baselines": "smpp_utils.baselines.BASELINES (JRPP Table 2)",
    "regimes": "smpp_utils.data.sim.REGIMES (SMPD-Sim regimes)",
    "ablation_variants": "smpp_utils.jrpp.ablation.TRAINED_VARIANTS (JRPP Figure 4)",
    "split_schemes": "smpp_utils.data.splits.SCHEMES",
}
EMB_SPEC = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$")          # file:array, e.g. clip:image


class KnobError(ValueError):
    """params.yaml (or a notebook parameter) holds a value the study cannot run with."""


def knob(*, ge=None, gt=None, le=None, lt=None, choices=None, items=None, spec=None,
         nonempty=False, registry=None):
    """A required field's rule. ``ge/gt/le/lt``: numeric bounds; ``choices``: allowed values;
    ``registry``: the allowed values are the names of that registry (``REGISTRIES``), checked
    when the caller of :func:`validate` supplies it; ``items``: the value is a comma-separated
    list (a str, or one number) whose items are ``float``/``int`` within the same bounds, or
    one of the choices; ``spec``: a regex the string must match; ``nonempty``: a str (or
    list) that must not be empty."""
    if registry is not None and registry not in REGISTRIES:
        raise ValueError(f"unknown knob registry {registry!r}; expected one of {sorted(REGISTRIES)}")
    rule = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices, items=items,
                                  spec=spec, nonempty=nonempty, registry=registry).items()
            if v is not None and v is not False}   # not `v not in (None, False)`: 0 == False
    return field(metadata=rule)


FRACTION = dict(gt=0.0, lt=1.0)   # a fraction strictly between 0 and 1


# ------------------------------------------------------------------------------ sections


@dataclass
class DataKnobs:
    source: str = knob(choices=("sim", "smpd", "smp_video"))   # sim = SMPD-Sim written by the simulator | smpd = official SMPD files | smp_video = official SMP-Video files (text + metadata, no frames)
    smpd_root: str = knob()               # folder with the official SMPD files; required (non-empty) when source: smpd
    smp_video_root: str = knob()          # folder with the official SMP-Video files (train/, test/), read in place; required when source: smp_video ($SMPP_SMP_VIDEO_ROOT overrides)
    lenient: bool = knob()                # drop posts whose image is missing/unreadable instead of failing
    sim_posts: int = knob(ge=0)           # simulated train posts; >= 1 when source: sim
    sim_users: int = knob(ge=0)           # simulated users; >= 1 when source: sim
    sim_image_size: int = knob(ge=0)      # side of the simulated square images (pixels); >= 8 when source: sim
    sim_test_ratio: float = knob(ge=0.0, lt=1.0)   # extra later-in-time posts as the official test files, [0, 1)
    sim_regime: str = knob(registry="regimes")   # named SMPD-Sim v2 regime (data/sim REGIMES; docs/sim_calibration.md)
    val_frac: float = knob(**FRACTION)    # validation share of the labelled posts, (0, 1) (JRPP protocol: random 8:1:1)
    test_frac: float = knob(**FRACTION)   # test share, (0, 1); val_frac + test_frac < 1
    date_window: str = knob(nonempty=True)   # plausible upload days 'first,last' (UTC, inclusive): a Postdate outside is refused, optional user dates outside read as unknown
    max_image_pixels: int = knob(ge=1)     # largest image width x height the reader accepts (PIL's decompression-bomb limit)


@dataclass
class PrototypesKnobs:
    clip_model: str = knob(nonempty=True)  # open_clip model name (project config or built-in)
    clip_pretrained: str = knob()          # "" = pre-train here, else a local checkpoint file path (no hub tags)
    text_encoder: str = knob(choices=("minilm", "clip"))   # minilm (offline all-MiniLM-L6-v2) | clip
    pretrain_epochs: int = knob(ge=0)      # CLIP pre-training epochs; >= 1 when clip_pretrained is ""
    pretrain_batch: int = knob(ge=2)       # pre-training batch (contrastive: >= 2)
    pretrain_lr: float = knob(gt=0.0, le=1.0)      # pre-training learning rate, > 0
    embed_batch: int = knob(ge=1)          # batch size when embedding every post
    num_workers: int = knob(ge=0)          # DataLoader workers (0 = main process)
    shots: int = knob(ge=1)                # per-subcategory prototype budget (paper: 256)
    time_bins: int = knob(ge=1)            # postdate bins the prototype sampler spreads over
    topic_clusters: int = knob(ge=1)       # k-means topic clusters the sampler spreads over
    user_cap: int = knob(ge=1)             # most prototypes per user (relaxed only if needed)


@dataclass
class FinetuneKnobs:
    global_ctx: int = knob(ge=1)           # learnable global prompt context tokens
    local_ctx: int = knob(ge=1)            # learnable local prompt context tokens
    epochs: int = knob(ge=1)               # prompt fine-tuning epochs
    batch_size: int = knob(ge=2)           # fine-tuning batch (contrastive loss: >= 2)
    lr: float = knob(gt=0.0, le=1.0)               # learning rate, > 0
    weight_decay: float = knob(ge=0.0)     # AdamW weight decay, >= 0
    temperature: float = knob(gt=0.0)      # softmax temperature of the prompt logits, > 0
    w_global: float = knob(ge=0.0)         # loss weight of the global prompt term, >= 0
    w_local: float = knob(ge=0.0)          # loss weight of the local prompt term, >= 0
    w_contrastive: float = knob(ge=0.0)    # loss weight of the image-text contrastive term, >= 0 (one weight > 0)
    attn_heads: int = knob(ge=1)           # heads of the prototype attention
    freeze_backbone: bool = knob()         # true = train prompts/attention/heads only (much faster on CPU; Paper A: false)
    direct_epochs: int = knob(ge=1)        # epochs of Paper A's direct-regression comparison
    direct_metadata: bool = knob()         # also train direct regression on content + the boosted rows' metadata (fair row)
    direct_seeds: int = knob(ge=1)         # seeds of each direct-regression variant (seed, seed+1, ...; >= 3 where a claim rests on them)
    direct_head_lr: float = knob(gt=0.0, le=1.0)   # lr of the direct-regression heads (content + metadata MLP); the backbone uses lr (the paper leaves it open)
    num_workers: int = knob(ge=0)          # DataLoader workers


@dataclass
class JrppKnobs:
    image_emb: str = knob(spec=EMB_SPEC)   # image embedding 'file:array' of stage 02 (data/<profile>/emb/file.npz)
    text_emb: str = knob(spec=EMB_SPEC)    # text embedding 'file:array'
    use_metadata: bool = knob()            # add the numeric post/user metadata to the query
    proj_dim: int = knob(ge=1)             # query projection width
    n_mol: int = knob(ge=1)                # mixture-of-logits components
    mol_dim: int = knob(ge=1)              # width of each MoL component
    shortlist: int = knob(ge=1)            # faiss shortlist per query; >= k
    k: int = knob(ge=1)                    # retrieved neighbours per query
    kprime_frac: float = knob(gt=0.0, le=1.0)   # Gumbel filter keeps k' = floor(kprime_frac * k), (0, 1]
    gumbel_tau: float = knob(gt=0.0)       # Gumbel-softmax temperature, > 0
    beta_sweep: str = knob(items=float, gt=0.0)   # IB beta values to sweep, comma list of numbers > 0 ("" = off)
    ib_beta: float = knob(ge=0.0)          # information-bottleneck weight beta, >= 0
    n_layers: int = knob(ge=1)             # aggregator transformer layers
    n_heads: int = knob(ge=1)              # aggregator heads; must divide d_model
    d_model: int = knob(ge=1)              # aggregator width
    attn_bias: bool = knob()               # MoL scores as additive attention bias in the aggregator (paper: not stated; true worsened the fit, jrpp/aggregator.py)
    tta_T: int = knob(ge=0)                # test-time perturbations averaged (0 = none)
    tta_scales: str = knob(items=float, gt=0.0, nonempty=True)   # perturbation noise scales (x ||x||), cycled over t (JRPP Eq. 14), comma list > 0
    tta_scale_grid: str = knob(items=float, gt=0.0, nonempty=True)   # multipliers of tta_scales tried on val; the best is used
    lr: float = knob(gt=0.0, le=1.0)               # learning rate, > 0
    batch_size: int = knob(ge=1)           # training batch
    epochs: int = knob(ge=1)               # most training epochs (early stopping may end sooner)
    patience: int = knob(ge=1)             # early stopping: epochs without a better val loss
    reindex_every: int = knob(ge=1)        # rebuild the train bank index every n epochs
    n_seeds: int = knob(ge=1)              # seeds of JRPP and the baselines
    baselines: str = knob(items=str, registry="baselines")   # all | none | comma list of Table 2 names


@dataclass
class BoostingKnobs:
    select_frac: float = knob(gt=0.0, le=1.0)   # share of train posts the loss-based selection keeps (lowest classification loss; Paper A: 0.77), (0, 1]
    oof_folds: int = knob(ge=2)            # folds of the out-of-fold target encodings
    pca_dims: int = knob(ge=0)             # PCA components per embedding block (0 = none)
    n_seeds: int = knob(ge=1)              # seeds of each boosted model
    lgbm_estimators: int = knob(ge=1)      # LightGBM trees
    lgbm_lr: float = knob(gt=0.0, le=1.0)          # LightGBM learning rate, > 0
    lgbm_leaves: int = knob(ge=2)          # LightGBM leaves per tree
    cat_iterations: int = knob(ge=1)       # CatBoost trees
    cat_depth: int = knob(ge=1, le=16)     # CatBoost tree depth (CatBoost allows 1..16)
    cat_lr: float = knob(gt=0.0, le=1.0)           # CatBoost learning rate, > 0


@dataclass
class AblationsKnobs:
    variants: str = knob(items=str, registry="ablation_variants")   # comma list of variants trained in 06 ("" = none)
    n_seeds: int = knob(ge=1)              # the first n seeds of stage 04; <= jrpp.n_seeds
    tta_T_values: str = knob(items=int, ge=0, nonempty=True)     # Figure 5 values of T, comma list of ints >= 0
    k_values: str = knob(items=int, ge=1)  # Figure 5 values of k (retrieved neighbours; = jrpp.k reuses stage 04's models), comma list of ints >= 1 ("" = skip)
    m_values: str = knob(items=int, ge=1)  # Figure 5 values of M (MoL components; = jrpp.n_mol reuses stage 04's models), comma list of ints >= 1 ("" = skip)
    sweep_seeds: int = knob(ge=1)          # seeds per trained k / M point (a JRPP fit each; <= n_seeds); the stage-04 point has n_seeds (free)


@dataclass
class TailKnobs:
    top_fracs: str = knob(items=float, gt=0.0, lt=1.0, nonempty=True)   # Table 3 top shares of test posts, each in (0, 1)
    tail_threshold: float = knob()         # Paper A's tail: posts with popularity above this


@dataclass
class HeadToHeadKnobs:
    n_boot: int = knob(ge=1)               # paired-bootstrap resamples of the test posts
    alpha: float = knob(**FRACTION)        # two-sided level of the bootstrap CI (0.05 = 95%), (0, 1)
    hybrid_folds: int = knob(ge=2)         # cross-fitting folds of the hybrid stacker on the val posts


@dataclass
class RegimesKnobs:
    regimes: str = knob(items=str, registry="regimes", nonempty=True)   # SMPD-Sim regimes swept, comma list
    schemes: str = knob(items=str, registry="split_schemes", nonempty=True)  # split schemes evaluated, comma list
    posts: int = knob(ge=50)               # simulated train posts per regime (users = posts / 8)
    image_size: int = knob(ge=8)           # side of the simulated images (pixels), as the CLIP of 02 saw
    n_seeds: int = knob(ge=1)              # seeds of the seeded rows (LightGBM, JRPP)
    oof_folds: int = knob(ge=2)            # folds of the out-of-fold user mean label (feature and row)
    ridge_alphas: str = knob(items=float, gt=0.0, nonempty=True)   # Ridge alphas tried on val, comma list > 0
    knn_k: int = knob(ge=1)                # neighbours averaged by the kNN rows
    knn_shortlist: int = knob(ge=1)        # time-aware kNN: content shortlist it picks the k nearest in time from; >= knn_k
    pca_dims: int = knob(ge=0)             # LightGBM: PCA components per embedding block (0 = none)
    lgbm_estimators: int = knob(ge=1)      # LightGBM trees (early stopping on val)
    lgbm_lr: float = knob(gt=0.0, le=1.0)          # LightGBM learning rate, > 0
    lgbm_leaves: int = knob(ge=2)          # LightGBM leaves per tree
    jrpp_epochs: int = knob(ge=1)          # JRPP epochs per fit here (the rest of its knobs: the jrpp section)
    jrpp_batch_size: int = knob(ge=2)      # JRPP batch here (smaller data than stage 04: keeps the steps per epoch up)
    n_boot: int = knob(ge=1)               # paired-bootstrap resamples of each claim's test per regime and split


@dataclass
class PaperAAblationsKnobs:
    regressors: str = knob(items=str, choices=("LightGBM", "CatBoost"), nonempty=True)   # GBDTs of the new fits, comma list (rows of 05 read the same ones)
    raw_text_emb: str = knob(spec=EMB_SPEC)   # stage-02 'file:array' of the posts' own title + tags: the raw-tags row
    oversample_factor: int = knob(ge=1)    # train posts above tail.tail_threshold repeated this many times (1 = none)
    retrain_branches: str = knob(items=str, choices=("global", "local", "noproto", "rawtags"))   # prompt models retrained, one stage-03 fine-tuning each: global / local loss only, w/o the prototype branch, raw tags for the textual prototypes (paper_a/branch_retrain.py), comma list ("" = none)


@dataclass
class SmpVideoKnobs:
    max_posts: int = knob(ge=0)            # 0 = every labelled post; else a seeded subset (smoke runs)
    val_frac: float = knob(**FRACTION)     # random protocol: validation share (JRPP's 8:1:1)
    test_frac: float = knob(**FRACTION)    # random protocol: test share
    chrono_val_frac: float = knob(**FRACTION)    # chrono protocol: the latest share before the test posts as validation
    chrono_test_frac: float = knob(**FRACTION)   # chrono protocol: the latest share of the labelled posts as test
    schemes: str = knob(items=str, registry="split_schemes", nonempty=True)   # split protocols run, comma list
    n_seeds: int = knob(ge=1)              # seeds of every seeded row (>= 5 for the claims)
    oof_folds: int = knob(ge=2)            # folds of the out-of-fold user mean label
    embed_batch: int = knob(ge=1)          # MiniLM batch size
    pca_dims: int = knob(ge=0)             # PCA components of the text block in the GBDTs (0 = the raw 384)
    lgbm_estimators: int = knob(ge=1)      # LightGBM trees (early stopping on val)
    lgbm_lr: float = knob(gt=0.0, le=1.0)  # LightGBM learning rate, (0, 1]
    lgbm_leaves: int = knob(ge=2)          # LightGBM leaves per tree
    cat_iterations: int = knob(ge=1)       # CatBoost trees
    cat_depth: int = knob(ge=1, le=16)     # CatBoost tree depth
    cat_lr: float = knob(gt=0.0, le=1.0)   # CatBoost learning rate, (0, 1]
    ridge_alphas: str = knob(items=float, gt=0.0, nonempty=True)   # Ridge (text embedding) alphas tried on val, comma list > 0
    knn_k: int = knob(ge=1)                # neighbours of the kNN label means
    knn_shortlist: int = knob(ge=1)        # time-aware kNN: the content shortlist it takes the k nearest in time from; >= knn_k
    jrpp_epochs: int = knob(ge=0)          # JRPP epochs here (0 = the jrpp section's); the other JRPP knobs: the jrpp section
    baselines: str = knob(items=str, registry="baselines")   # all | none | comma list of Table 2 names (image-only ones are n/a)
    hybrid_folds: int = knob(ge=2)         # cross-fitting folds of the JRPP hybrid on the val posts
    n_boot: int = knob(ge=1)               # paired-bootstrap resamples per claim and protocol
    alpha: float = knob(**FRACTION)        # CI level and the BH q threshold of "holds"
    submission_model: str = knob(choices=("lgbm", "catboost"))   # the model refitted on every labelled post for the official test posts


@dataclass
class ProfileKnobs:
    name: str = knob(choices=PROFILES)     # the block's own key (PROFILES)
    reports: str = knob(nonempty=True)     # results folder: 'reports' or 'reports/<sub>', distinct per profile
    seed: int = knob(ge=0, lt=2 ** 32)     # seed of every stage (numpy accepts 0 .. 2**32-1)


SECTIONS = {"data": DataKnobs, "prototypes": PrototypesKnobs, "finetune": FinetuneKnobs,
            "jrpp": JrppKnobs, "boosting": BoostingKnobs, "ablations": AblationsKnobs,
            "tail": TailKnobs, "head_to_head": HeadToHeadKnobs, "regimes": RegimesKnobs,
            "paper_a_ablations": PaperAAblationsKnobs, "smp_video": SmpVideoKnobs}
TOP_LEVEL = ("base", *PROFILES, "profile")


# ------------------------------------------------------------------------------ checks
def _name(v) -> str:
    return {bool: "a bool", int: "an integer", float: "a number", str: "a string"}.get(v, str(v))


def _bounds(f: dataclasses.Field, v) -> str | None:
    m = f.metadata
    for key, ok, word in (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
                          ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<")):
        if key in m and not ok(v, m[key]):
            return f"must be {word} {m[key]}, got {v!r}"
    return None


def _type_error(typ, v) -> str | None:
    is_num = isinstance(v, (int, float)) and not isinstance(v, bool)
    ok = {bool: isinstance(v, bool), str: isinstance(v, str),
          int: isinstance(v, int) and not isinstance(v, bool),
          float: is_num and math.isfinite(v)}[typ]
    return None if ok else f"expected {_name(typ)}, got {v!r}"


def _choices(f: dataclasses.Field, registries) -> tuple | None:
    """The allowed values of a knob: its ``choices``, or the names of its registry when
    ``registries`` holds it (None: not checkable here)."""
    m = f.metadata
    if "registry" in m:
        return tuple(registries[m["registry"]]) if registries and m["registry"] in registries else None
    return tuple(m["choices"]) if "choices" in m else None


def _list_items(f: dataclasses.Field, v, registries=None) -> list[str]:
    """Problems of a comma-separated list knob (a single number is a one-item list)."""
    m, kind = f.metadata, f.metadata["items"]
    choices = _choices(f, registries)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        return [f"expected a comma-separated list in a string, got {v!r}"]
    if kind is str and v.strip().lower() in ("all", "none", "") and m.get("registry") == "baselines":
        return []
    items = [s.strip() for s in re.split(r"[,;]", v) if s.strip()]
    if not items:
        return ["must list at least one value, got ''"] if m.get("nonempty") else []
    out = []
    for s in items:
        if kind is str:
            if choices is not None and s not in choices:
                close = difflib.get_close_matches(s, choices, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                out.append(f"{s!r} is not one of {', '.join(choices)}{hint}")
            continue
        try:
            x = kind(s)
        except ValueError:
            out.append(f"item {s!r} of {v!r} is not {_name(kind)}")
            continue
        if kind is float and not math.isfinite(x):
            out.append(f"item {s!r} of {v!r} is not finite")
        elif (b := _bounds(f, x)) is not None:
            out.append(f"item {s!r} of {v!r}: {b}")
    return out


def _value_errors(f: dataclasses.Field, v, registries=None) -> list[str]:
    m = f.metadata
    if "items" in m:
        return _list_items(f, v, registries)
    if (t := _type_error(f.type, v)) is not None:
        return [t]
    choices = _choices(f, registries)
    if choices is not None and v not in choices:
        close = difflib.get_close_matches(str(v), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [f"must be one of {' | '.join(map(str, choices))}, got {v!r}{hint}"]
    if m.get("nonempty") and isinstance(v, str) and not v.strip():
        return ["must not be empty"]
    if "spec" in m and not m["spec"].match(v):
        return [f"must look like 'file:array' (e.g. 'clip:image'), got {v!r}"]
    b = _bounds(f, v) if f.type in (int, float) else None
    return [b] if b else []


def _unknown(where: str, key, known: list[str], what: str) -> str:
    """``where.key: unknown <what>`` with the closest known name (or the known names)."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return f"{where}.{key}: unknown {what}{hint}"


def _keys(cls, got: dict, where: str) -> list[str]:
    """Unknown (with the close match) and missing keys of a mapping checked against ``cls``."""
    names = [f.name for f in dataclasses.fields(cls)]
    out = [_unknown(where, k, names, "knob") for k in got if k not in names]
    out += [f"{where}.{k}: missing (expected {_name(f.type)})"
            for f in dataclasses.fields(cls) if (k := f.name) not in got and not isinstance(got.get(k), dict)]
    return out


def _fields(cls, got: dict, where: str, registries=None) -> list[str]:
    out = _keys(cls, got, where)
    for f in dataclasses.fields(cls):
        if f.name in got:
            out += [f"{where}.{f.name}: {e}" for e in _value_errors(f, got[f.name], registries)]
    return out


def _num(sec: dict, k: str):
    v = sec.get(k)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _cross_section(name: str, sec: dict, where: str) -> list[str]:
    """Rules across knobs of one section (only where both values are well-typed)."""
    out = []
    if name == "data":
        vf, tf = _num(sec, "val_frac"), _num(sec, "test_frac")
        if vf is not None and tf is not None and 0 < vf < 1 and 0 < tf < 1 and vf + tf >= 1:
            out.append(f"{where}.val_frac + {where}.test_frac: must be < 1 (nothing left to "
                       f"train on), got {vf} + {tf}")
        if sec.get("source") == "smpd" and isinstance(sec.get("smpd_root"), str) and not sec["smpd_root"].strip():
            out.append(f"{where}.smpd_root: required when source: smpd (the folder with the official SMPD files)")
        if sec.get("source") == "smp_video" and isinstance(sec.get("smp_video_root"), str) \
                and not sec["smp_video_root"].strip():
            out.append(f"{where}.smp_video_root: required when source: smp_video (the folder with the official "
                       "SMP-Video files)")
        if sec.get("source") == "sim":
            for k, lo in (("sim_posts", 1), ("sim_users", 1), ("sim_image_size", 8)):
                v = _num(sec, k)
                if v is not None and v < lo:
                    out.append(f"{where}.{k}: must be >= {lo} when source: sim, got {v}")
    elif name == "prototypes":
        cp = sec.get("clip_pretrained")
        if isinstance(cp, str) and cp.strip() and not _looks_like_file(cp):
            out.append(f"{where}.clip_pretrained: expected the path of a local checkpoint file "
                       f"(e.g. /models/ViT-B-32-openai.pt), got {cp!r}; hub tags are never downloaded")
        if cp == "" and _num(sec, "pretrain_epochs") == 0:
            out.append(f"{where}.pretrain_epochs: must be >= 1 when clip_pretrained is \"\" "
                       f"(nothing else trains the CLIP encoder), got 0")
    elif name == "smp_video":
        for a, b in (("val_frac", "test_frac"), ("chrono_val_frac", "chrono_test_frac")):
            va, vb = _num(sec, a), _num(sec, b)
            if va is not None and vb is not None and 0 < va < 1 and 0 < vb < 1 and va + vb >= 1:
                out.append(f"{where}.{a} + {where}.{b}: must be < 1 (nothing left to train on), got {va} + {vb}")
    elif name == "finetune":
        ws = [_num(sec, k) for k in ("w_global", "w_local", "w_contrastive")]
        if all(w is not None and w == 0 for w in ws):
            out.append(f"{where}.w_global/w_local/w_contrastive: at least one loss weight must be > 0")
    elif name == "jrpp":
        sl, k = _num(sec, "shortlist"), _num(sec, "k")
        if sl is not None and k is not None and 1 <= sl < k:
            out.append(f"{where}.shortlist: must be >= {where}.k ({k}), got {sl}")
        dm, nh = _num(sec, "d_model"), _num(sec, "n_heads")
        if dm and nh and dm >= 1 and nh >= 1 and dm % nh:
            out.append(f"{where}.n_heads: must divide {where}.d_model ({dm}), got {nh}")
    elif name in ("regimes", "smp_video"):
        sl, k = _num(sec, "knn_shortlist"), _num(sec, "knn_k")
        if sl is not None and k is not None and 1 <= sl < k:
            out.append(f"{where}.knn_shortlist: must be >= {where}.knn_k ({k}), got {sl}")
    return out


def _looks_like_file(s: str) -> bool:
    p = Path(s)
    return "/" in s or "\\" in s or s.startswith("~") or p.suffix in (".pt", ".pth", ".bin", ".safetensors")


def validate_section(name: str, sec, where: str, source="params.yaml", seed=None) -> None:
    """Check one section's resolved knobs (e.g. a notebook's parameters after papermill)."""
    probs = _section_problems(name, sec, where)
    if seed is not None:
        probs += [f"{where}.seed: {e}" for e in _value_errors(_field(ProfileKnobs, "seed"), seed)]
    if probs:
        raise KnobError(f"{source}: {len(probs)} invalid knob(s):\n  " + "\n  ".join(probs))


def _field(cls, name):
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _section_problems(name: str, sec, where: str, registries=None) -> list[str]:
    if not isinstance(sec, dict):
        return [f"{where}: expected a mapping of knobs, got {sec!r}"]
    probs = _fields(SECTIONS[name], sec, where, registries)
    for k, v in sec.items():
        if isinstance(v, (dict, list)):
            probs.append(f"{where}.{k}: must be a flat scalar, got {type(v).__name__}")
    return probs + _cross_section(name, sec, where)


def _block_problems(block, where: str, with_profile_fields: bool, registries=None) -> list[str]:
    if not isinstance(block, dict):
        return [f"{where}: expected a mapping, got {block!r}"]
    probs: list[str] = []
    head = [f.name for f in dataclasses.fields(ProfileKnobs)] if with_profile_fields else []
    known = [*head, *SECTIONS]
    probs += [_unknown(where, k, known, "section") for k in block if k not in known]
    for k in known:
        if k not in block:
            probs.append(f"{where}.{k}: missing")
        elif k in SECTIONS:
            probs += _section_problems(k, block[k], f"{where}.{k}", registries)
        else:
            probs += [f"{where}.{k}: {e}" for e in _value_errors(_field(ProfileKnobs, k), block[k])]
    if with_profile_fields and "name" in block and block.get("name") != where and where in PROFILES:
        probs.append(f"{where}.name: must be the block's own key {where!r}, got {block['name']!r}")
    if with_profile_fields and isinstance(block.get("reports"), str):
        probs += _reports_problems(block["reports"], where)
    if with_profile_fields and isinstance(block.get("ablations"), dict) and isinstance(block.get("jrpp"), dict):
        a, j = _num(block["ablations"], "n_seeds"), _num(block["jrpp"], "n_seeds")
        if a is not None and j is not None and a > j >= 1:
            probs.append(f"{where}.ablations.n_seeds: must be <= {where}.jrpp.n_seeds ({j}), "
                         f"it reads stage 04's first n seeds; got {a}")
    return probs


def _reports_problems(rep: str, where: str) -> list[str]:
    parts = Path(rep).parts
    if Path(rep).is_absolute() or ".." in parts or not parts or parts[0] != "reports":
        return [f"{where}.reports: must be 'reports' or a folder under it (e.g. 'reports/{where}'), got {rep!r}"]
    return []


def validate(params, source="params.yaml", registries=None) -> None:
    """Refuse a params mapping (resolved YAML) with any unknown, missing, mistyped or
    out-of-range knob, in ``base``, in any profile block or in the active ``profile``.
    ``registries`` ({name: names}, see ``REGISTRIES``) also checks the registry-backed knobs
    (the pre-flight passes them; without, those knobs are checked for type only)."""
    if not isinstance(params, dict):
        raise KnobError(f"{source}: expected a mapping with base, {', '.join(PROFILES)} and profile")
    probs = []
    for k in params:
        if k not in TOP_LEVEL:
            close = difflib.get_close_matches(str(k), TOP_LEVEL, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            probs.append(f"{k}: unknown top-level key{hint}")
    for k in TOP_LEVEL:
        if k not in params:
            probs.append(f"{k}: missing" + (" (the last line must be e.g. `profile: *default`)"
                                              if k == "profile" else ""))
    if "base" in params:
        probs += _block_problems(params["base"], "base", with_profile_fields=False, registries=registries)
    for prof in PROFILES:
        if prof in params:
            probs += _block_problems(params[prof], prof, with_profile_fields=True, registries=registries)
    reps = {p: params[p].get("reports") for p in PROFILES if isinstance(params.get(p), dict)}
    for i, p in enumerate(PROFILES):
        for q in PROFILES[i + 1:]:
            if reps.get(p) is not None and reps.get(p) == reps.get(q):
                probs.append(f"{q}.reports: must differ from {p}.reports ({reps[p]!r}); "
                             f"each profile writes its own results")
    if "profile" in params:
        probs += _active_problems(params)
    if probs:
        raise KnobError(f"{source}: {len(probs)} invalid knob(s):\n  " + "\n  ".join(probs))


def registry_problems(params: dict, registries) -> list[str]:
    """Problems of the registry-backed knobs only (``knob(registry=...)``), in ``base`` and
    every profile block of ``params``: what :func:`validate` adds when given ``registries``."""
    probs = []
    for where in ("base", *PROFILES):
        block = params.get(where)
        if not isinstance(block, dict):
            continue
        for name, cls in SECTIONS.items():
            sec = block.get(name)
            if not isinstance(sec, dict):
                continue
            for f in dataclasses.fields(cls):
                if "registry" in f.metadata and f.name in sec:
                    probs += [f"{where}.{name}.{f.name}: {e}" for e in _value_errors(f, sec[f.name], registries)]
    return probs


def _active_problems(params: dict) -> list[str]:
    act = params["profile"]
    if not isinstance(act, dict):
        return [f"profile: must be an alias of a profile block as the file's last line "
                f"(`profile: *{act if act in PROFILES else 'default'}`), got {act!r}"]
    name = act.get("name")
    if name not in PROFILES:
        return _block_problems(act, "profile", with_profile_fields=True)
    if act != params.get(name):   # e.g. `profile: {<<: *ci, seed: 3}`: a fourth, hidden profile
        return [f"profile: must be exactly an alias of the {name!r} block (`profile: *{name}`); "
                f"put changes in the {name} block instead"]
    return []
