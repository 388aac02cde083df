"""The 12 baselines of JRPP Table 2, in the table's order, on the shared model inputs of
``smpp_utils.data.inputs.build_inputs``.

Every entry is ``run(data, info, seed, cfg) -> {"val": ndarray, "test": ndarray,
"seconds": float}`` (predictions on the label scale, row-aligned with ``data['val']`` and
``data['test']``) or raises ``NotRun(reason)``. ``cfg`` is the ``jrpp`` section of
params.yaml (``lr``, ``batch_size``, ``epochs``, ``patience`` are used by the neural
baselines through the one shared trainer); each module's docstring says what the cited
original does and what is simplified here.

Feature engineering: SVR, HyFea, MFTM. Deep learning: CLSTM, HMMVED, DLBA, MASSL, BLIP,
CBAN. Retrieval: NIPA, MMRA, SKAPP (fixed retrievers over the train bank; a train post
never retrieves itself).
"""

from __future__ import annotations

from collections.abc import Callable

from . import blip, cban, clstm, dlba, hmmved, hyfea, massl, mftm, mmra, nipa, skapp, svr
from .inputs import NotRun

# name -> (run, kind): THE list of baselines, in JRPP Table 2's order (kind: feature
# engineering | deep learning | retrieval). Adding one = its module + one line here.
BASELINES: dict[str, tuple[Callable, str]] = {
    "SVR": (svr.run, "feature"), "HyFea": (hyfea.run, "feature"), "MFTM": (mftm.run, "feature"),
    "CLSTM": (clstm.run, "deep"), "HMMVED": (hmmved.run, "deep"), "DLBA": (dlba.run, "deep"),
    "MASSL": (massl.run, "deep"), "BLIP": (blip.run, "deep"), "CBAN": (cban.run, "deep"),
    "NIPA": (nipa.run, "retrieval"), "MMRA": (mmra.run, "retrieval"), "SKAPP": (skapp.run, "retrieval"),
}


def __getattr__(name: str):
    """Views of ``BASELINES``, computed on access so a baseline added to it (a test does)
    is in every one: REGISTRY (name -> run), KIND (name -> kind), NEURAL (trained through the
    shared trainer: deep and retrieval), RETRIEVAL."""
    if name == "REGISTRY":
        return {n: run for n, (run, _) in BASELINES.items()}
    if name == "KIND":
        return {n: kind for n, (_, kind) in BASELINES.items()}
    if name == "NEURAL":
        return tuple(n for n, (_, kind) in BASELINES.items() if kind in ("deep", "retrieval"))
    if name == "RETRIEVAL":
        return tuple(n for n, (_, kind) in BASELINES.items() if kind == "retrieval")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BASELINES", "KIND", "NEURAL", "REGISTRY", "RETRIEVAL", "NotRun"]
