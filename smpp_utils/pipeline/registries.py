"""The registries the registry-backed knobs name (``core.knobs.REGISTRIES``), collected here in
the pipeline room - the one place that may import every layer - for the pre-flight's check of
params.yaml. Each registry stays the one list of its kind: a new baseline, regime, ablation
variant or split scheme is added there and is a valid knob value at once."""

from __future__ import annotations


def registries() -> dict[str, tuple[str, ...]]:
    from ..baselines import BASELINES
    from ..data.sim import REGIMES
    from ..data.splits import SCHEMES
    from ..jrpp.ablation import TRAINED_VARIANTS

    return {"baselines": tuple(BASELINES), "regimes": tuple(REGIMES),
            "ablation_variants": tuple(TRAINED_VARIANTS), "split_schemes": tuple(SCHEMES)}
