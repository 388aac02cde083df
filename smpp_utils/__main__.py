"""``python -m smpp_utils STAGE [--profile P]``: run one pipeline stage (the runner,
``smpp_utils.pipeline.runner``); ``check`` is the pre-flight, ``results`` the results page.
``python -m smpp_utils profile [NAME]`` shows or switches the active profile,
``dvc-yaml [--check]`` regenerates dvc.yaml from the stage registry, ``params-doc [--check]``
copies the knobs' comments into params.yaml."""

import sys

from .pipeline import stages

# tool -> (its module under smpp_utils.pipeline, what it does)
TOOLS = {"profile": ("profiles", "show, or switch to, a profile (params.yaml's last line; dvc.yaml follows)"),
         "dvc-yaml": ("dvcgen", "regenerate dvc.yaml from the stage registry and the code (--check: only compare)"),
         "params-doc": ("params_doc", "copy each knob's comment from core/knobs.py into params.yaml (--check: only compare)")}


def usage() -> str:
    names = [s.name for s in stages.STAGES] + [stages.RESULTS.name]
    width = max(map(len, [*names, *TOOLS]))
    lines = [f"  {s.name:<{width}}  " + (f"[{s.notebook}] " if s.notebook else "") + s.title
             for s in (*stages.STAGES, stages.RESULTS)]
    return "\n".join([
        "usage: python -m smpp_utils STAGE [--profile PROFILE]",
        "       python -m smpp_utils profile [NAME] | dvc-yaml [--check] | params-doc [--check]",
        "",
        "Run one stage of the study (what `dvc repro` calls for each stage of dvc.yaml). A notebook",
        "stage runs its notebook with papermill (the profile passed; the notebook reads its knobs",
        "from params.yaml by name), writes its reports to a staging folder and publishes them only",
        "when the whole notebook succeeded.",
        "",
        "stages (smpp_utils/pipeline/stages.py):",
        *lines,
        "",
        "tools:",
        *[f"  {t:<{width}}  {about}" for t, (_, about) in TOOLS.items()],
        "",
        "options:",
        "  -h, --help         show this help and exit",
        "  --profile PROFILE  a profile of params.yaml (default: $SMPP_PROFILE, else the alias on",
        "                     the last line of params.yaml)",
        "",
        "Whole pipeline: `make repro`. Other entry points: python -m smpp_utils.data.sim --help (the",
        "simulator), python -m smpp_utils.data.smpd --help (the official-file reader).",
    ])


if len(sys.argv) > 1 and sys.argv[1] in TOOLS:
    import importlib

    tool = importlib.import_module(f".pipeline.{TOOLS[sys.argv[1]][0]}", __package__)
    sys.exit(tool.main(sys.argv[2:]))
if len(sys.argv) < 2 or any(a in ("-h", "--help") for a in sys.argv[1:]):
    print(usage())
    sys.exit(0 if len(sys.argv) > 1 else 2)

from .pipeline.runner import main  # noqa: E402

sys.exit(main())
