"""geomclaims: paper claims about representation geometry as pytest items with verdicts, nulls and reports."""

__version__ = "0.1.0"
