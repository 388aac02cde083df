"""JRPP: jointly optimised retrieval and prediction (Xu et al., "Learning to Curate Context").

Modules, named for the paper's parts (equation numbers in one-line comments in the code):

* :mod:`.mol` - Mixture-of-Logits similarity (Eq. 4-5)
* :mod:`.retrieval` - bank = train split, faiss shortlist + MoL rerank (Eq. 2)
* :mod:`.filter` - Gumbel top-k' selection (Eq. 7)
* :mod:`.ib` - information-bottleneck refinement (Eq. 8-13)
* :mod:`.aggregator` - Transformer over [query; z_1..z_k'] (Eq. 6)
* :mod:`.tta` - confidence-weighted test-time perturbation (Eq. 14-15)
* :mod:`.model` - the assembled :class:`JRPP` for :class:`smpp_utils.core.trainer.Trainer`
* :mod:`.experiment` / :mod:`.report` - notebook 04's loops, predictions, metrics, Table 2
* :mod:`.convert` - converter for the published SKAPP/JRPP feature packages
"""

from .model import JRPP, JRPPConfig, ablation_kwargs  # noqa: F401
