"""Claims of paper P (probability signatures), one pytest item per claim case of claims/probability_signature.yaml.

Run: ``.venv/bin/python -m pytest tests/claims/test_probability_signature.py --claims-profile ci``.
"""

import pytest

pytestmark = [pytest.mark.claims("probability_signature"), pytest.mark.signature, pytest.mark.slow]


def test_claim(claim_case, check_claim):
    check_claim(claim_case)
