"""``python -m smpp_utils STAGE [--profile P]``: run one pipeline stage (see
``smpp_utils.core.pipeline``); ``check`` is the pre-flight, ``results`` the results page."""

import sys

from .core.pipeline import main

sys.exit(main())
