"""Second-stage pause-sign verifier: the runtime is the vision core's (vision/verifier.py), the one copy the
edge runs too. The names stay here for the verifier's training and release tools."""

from __future__ import annotations

from vision.letterbox import PAD_VALUE
from vision.verifier import (
           CropSpec,
           SignVerifier,
           SignWiring,
           Suppression,
           combine,
           crop,
           rescore_signs,
           suppress,
           to_blob,
)

__all__ = ["PAD_VALUE", "CropSpec", "SignVerifier", "SignWiring", "Suppression", "combine", "crop", "rescore_signs",
           "suppress", "to_blob"]
