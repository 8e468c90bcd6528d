"""Report section of the execution-manifolds study (filled in below)."""

from __future__ import annotations
