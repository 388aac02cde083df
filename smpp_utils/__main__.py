"""``python -m smpp_utils STAGE [--profile P]``: run one pipeline stage (see
``smpp_utils.core.pipeline``); ``check`` is the pre-flight, ``results`` the results page.
``python -m smpp_utils dvc-yaml [--check]`` regenerates dvc.yaml from the stage registry;
``python -m smpp_utils params-doc [--check]`` copies the knobs' comments into params.yaml."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "dvc-yaml":
    from .pipeline.dvcgen import main as tool
elif len(sys.argv) > 1 and sys.argv[1] == "params-doc":
    from .pipeline.params_doc import main as tool
else:
    from .core.pipeline import main as tool
    sys.exit(tool())
sys.exit(tool(sys.argv[2:]))
