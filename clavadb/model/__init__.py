"""The ClavaDDPM engine: clustering, diffusion, classifiers, group sizes, matching (see synthesizer.py)."""

from clavadb.model.presets import PRESETS, Settings
from clavadb.model.synthesizer import Synthesizer, fk_col

__all__ = ["PRESETS", "Settings", "Synthesizer", "fk_col"]
