"""Paper E — low-dimensional execution manifolds in transformer learning dynamics (claims E1-E11).

Importing this package registers the study's profiles, evidence functions and report section.
"""

from geomclaims.studies.execution import experiment, profiles, report, statements  # noqa: F401  (registration)
