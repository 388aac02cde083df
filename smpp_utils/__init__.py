"""smpp_utils: the thin package behind the smpp notebooks.

Notebooks tell the story; everything that is computed, tested or used twice lives here.
"""

__version__ = "0.1.0"
