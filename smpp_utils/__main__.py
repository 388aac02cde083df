"""``python -m smpp_utils STAGE [--profile P]``: run one pipeline stage (see
``smpp_utils.core.pipeline``); ``check`` is the pre-flight, ``results`` the results page."""

import sys

from .core.pipeline import EXTRA_STAGES, STAGES, main

# what each stage does, for --help (the notebook stages run notebooks/<name>.ipynb)
ABOUT = {
    "check": "pre-flight: params.yaml valid, external inputs present; records their hashes",
    "results": "the results page <reports>/index.md + index.html and metrics/summary.json",
    "data": "canonical table and splits (SMPD-Sim written here, or the SMPD folder read in place)",
    "prototypes": "CLIP (pre-trained here or a local checkpoint), embeddings, 256-shot prototypes",
    "finetune": "Paper A's dual-grained prompt fine-tuning and the direct-regression rows",
    "jrpp": "JRPP and the 12 baselines (JRPP Table 2)",
    "boosting": "Paper A stage 2: LightGBM / CatBoost on metadata + features",
    "ablations": "JRPP Figures 4-6: ablations, k / M / T sensitivity, case study",
    "tail": "JRPP Table 3 and the error by popularity decile",
    "head_to_head": "both papers and the best baseline on the same test posts, paired bootstrap",
    "regimes": "the main rows on every SMPD-Sim regime",
    "paper_a_ablations": "Paper A ablations, tail oversampling, per-category error, submission",
}


def usage() -> str:
    width = max(map(len, [*STAGES, *EXTRA_STAGES]))
    lines = [f"  {s:<{width}}  " + (f"[{STAGES[s]}] " if s in STAGES else "") + ABOUT.get(s, "")
             for s in ("check", *STAGES, "results")]
    return "\n".join([
        "usage: python -m smpp_utils STAGE [--profile PROFILE]",
        "",
        "Run one stage of the study (what `dvc repro` calls for each stage of dvc.yaml). A notebook",
        "stage runs its notebook with papermill, every knob of params.yaml passed explicitly, writes",
        "its reports to a staging folder and publishes them only when the whole notebook succeeded.",
        "",
        "stages:",
        *lines,
        "",
        "options:",
        "  -h, --help         show this help and exit",
        "  --profile PROFILE  ci | default | paper (default: $SMPP_PROFILE, else the alias on the last",
        "                     line of params.yaml)",
        "",
        "Whole pipeline: `make repro`. Other entry points: python -m smpp_utils.data.sim --help (the",
        "simulator), python -m smpp_utils.data.smpd --help (the official-file reader).",
    ])


if any(a in ("-h", "--help") for a in sys.argv[1:]):
    print(usage())
    sys.exit(0)
sys.exit(main())
