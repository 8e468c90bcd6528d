"""Claims of paper E (execution manifolds), one pytest item per claim case of claims/execution_manifolds.yaml.

Run: ``.venv/bin/python -m pytest tests/claims/test_execution_manifolds.py --claims-profile ci``.
"""

import pytest

pytestmark = [pytest.mark.claims("execution_manifolds"), pytest.mark.execution, pytest.mark.slow]


def test_claim(claim_case, check_claim):
    check_claim(claim_case)
