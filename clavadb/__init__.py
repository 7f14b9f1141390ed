"""clavadb: realistic, constraint-valid synthetic copies of relational databases (ClavaDDPM)."""

__version__ = "0.1.0"
