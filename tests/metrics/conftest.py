"""Hypothesis profile for the metric tests: derandomized, no deadline, modest example counts.

Select another registered profile with HYPOTHESIS_PROFILE=<name>.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
