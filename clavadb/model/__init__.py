"""The ClavaDDPM engine (see synthesizer.py for the public API, README "Architecture" for the layout)."""

from clavadb.model.presets import PRESETS, Settings
from clavadb.model.synthesizer import Synthesizer

__all__ = ["PRESETS", "Settings", "Synthesizer"]
