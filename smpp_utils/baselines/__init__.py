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

REGISTRY: dict[str, Callable] = {
    "SVR": svr.run, "HyFea": hyfea.run, "MFTM": mftm.run,
    "CLSTM": clstm.run, "HMMVED": hmmved.run, "DLBA": dlba.run, "MASSL": massl.run,
    "BLIP": blip.run, "CBAN": cban.run,
    "NIPA": nipa.run, "MMRA": mmra.run, "SKAPP": skapp.run,
}
KIND = {"SVR": "feature", "HyFea": "feature", "MFTM": "feature",
        "CLSTM": "deep", "HMMVED": "deep", "DLBA": "deep", "MASSL": "deep", "BLIP": "deep", "CBAN": "deep",
        "NIPA": "retrieval", "MMRA": "retrieval", "SKAPP": "retrieval"}
NEURAL = ("CLSTM", "HMMVED", "DLBA", "MASSL", "BLIP", "CBAN", "NIPA", "MMRA", "SKAPP")
RETRIEVAL = ("NIPA", "MMRA", "SKAPP")

__all__ = ["KIND", "NEURAL", "REGISTRY", "RETRIEVAL", "NotRun"]
