"""Which data a result was computed on, in the words every caption and figure title uses.

The data stage records where the canonical table came from in ``posts.parquet``'s metadata;
this module turns that record into the dataset's label, so no caption types a dataset name:

=============================================  =====================================
what the data stage read                       label
=============================================  =====================================
``source: sim`` (the simulator wrote ``raw/``)  ``SMPD-Sim (simulated, regime R)``
``source: smpd`` on a folder the simulator      ``SMPD-Sim (simulated, regime R)``
wrote (``sim_config.json`` beside the files)
``source: smpd`` on the official files          ``SMPD (real)``
``source: smp_video``                           ``SMP-Video (real)``
=============================================  =====================================

A simulated folder read through the official reader (the ``paper`` rehearsal) is recognised
by the simulator's stamp ``sim_config.json`` (and its sidecar ``sim_latent.csv``) beside the
official files; :func:`simulated_folder` reads it and the data stage stores the result under
the metadata key ``simulated``. Real SMPD has no such file.

Trade-off: the label is derived from files, not from the profile's knobs, so a profile
pointed at a simulated folder can never present its numbers as real ones; the cost is that a
hand-made ``sim_config.json`` in a real folder would mark it simulated (loudly, never silently).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SIM_STAMP = "sim_config.json"        # written by smpp_utils.data.sim beside the official files
SIM_LATENT = "sim_latent.csv"        # the simulator's noise-free scores (oracle sidecar)

# data source (posts.parquet metadata ``source``) -> dataset name
NAMES = {"sim": "SMPD-Sim", "smpd": "SMPD", "smp_video": "SMP-Video"}
SIM_NAME = NAMES["sim"]


@dataclass(frozen=True)
class Provenance:
    source: str                  # what the data stage read: sim | smpd | smp_video
    simulated: bool              # True for SMPD-Sim, whichever reader path it came through
    regime: str | None = None    # the simulator's named regime, when simulated and recorded

    @property
    def name(self) -> str:
        """``SMPD-Sim``, ``SMPD`` or ``SMP-Video``."""
        return SIM_NAME if self.simulated else NAMES[self.source]

    @property
    def label(self) -> str:
        """The dataset's label for captions and figure titles (see the module docstring)."""
        if self.simulated:
            return f"{SIM_NAME} (simulated, regime {self.regime})" if self.regime else f"{SIM_NAME} (simulated)"
        return f"{self.name} (real)"


def label_of(source: str, regime: str | None = None) -> str:
    """The label of a bare source key: ``sim`` is simulated, the others are real."""
    if source not in NAMES:
        raise ValueError(f"unknown data source {source!r}; expected one of {sorted(NAMES)}")
    return Provenance(source, source == "sim", regime).label


def is_simulated(label: str) -> bool:
    """True for a label of simulated data (:attr:`Provenance.label`)."""
    return label.startswith(SIM_NAME)     # SMPD-Sim is simulated by name


def not_real_note(label: str) -> str:
    """The caption clause that keeps simulated numbers from being read as real ones: empty
    for real data."""
    return "not comparable with numbers reported on real data" if is_simulated(label) else ""


def with_note(label: str, sep: str = " - ") -> str:
    """``label`` followed by :func:`not_real_note` (when simulated)."""
    note = not_real_note(label)
    return f"{label}{sep}{note}" if note else label


def simulated_folder(root) -> dict | None:
    """The simulator's stamp in ``root`` as ``{"generator", "regime", "stamp", "latent"}``, or
    None when ``root`` holds no ``sim_config.json`` (real data). An unreadable stamp is an error
    naming the file: a folder that may be simulated must never pass for real data."""
    stamp = Path(root) / SIM_STAMP
    if not stamp.is_file():
        return None
    try:
        meta = json.loads(stamp.read_text())
        config = meta.get("config", {})
        regime = config.get("regime") if isinstance(config, dict) else None
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{stamp}: not the simulator's JSON stamp ({exc}); a folder with this "
                         "file is taken for simulated data - remove it only if the data are real") from None
    return {"generator": str(meta.get("generator", "smpp_utils.data.sim")),
            "regime": None if regime is None else str(regime), "stamp": SIM_STAMP,
            "latent": SIM_LATENT if (Path(root) / SIM_LATENT).is_file() else None}


def from_metadata(meta: dict, raw_dir, where) -> Provenance:
    """Provenance from the canonical table's metadata; ``raw_dir`` is ``data/<profile>/raw``
    (where the simulator's stamp lies for ``source: sim``), ``where`` names the table in errors."""
    source = meta.get("source")
    if source not in NAMES:
        raise ValueError(f"{where}: unknown data source {source!r} in its metadata; expected one of "
                         f"{sorted(NAMES)} (rerun stage data)")
    if source == "sim":
        stamp = simulated_folder(raw_dir)
        return Provenance("sim", True, stamp["regime"] if stamp else None)
    sim = meta.get("simulated")
    if sim:
        return Provenance(source, True, sim.get("regime"))
    return Provenance(source, False)
