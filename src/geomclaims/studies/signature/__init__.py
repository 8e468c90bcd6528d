"""Study of paper P (probability signatures): addition tasks, signatures, lin/FFN models, tiny LMs, a pretrained
tied-embedding model. Importing this package registers the study's profiles, evidence functions and report section.
"""

from . import experiment, profiles, report  # noqa: F401  (registration side effects)
