"""Paper S (stratified manifolds + dictionary MoE): one pytest item per claim case of claims/stratified_manifolds.yaml."""

import pytest

pytestmark = [pytest.mark.claims("stratified_manifolds"), pytest.mark.stratified, pytest.mark.slow]


def test_claim(claim_case, check_claim):
    check_claim(claim_case)
