"""Budget deferrals of the execution study's ci profile (issue 30): deferred runs give not_run, never a verdict."""

from __future__ import annotations

import pytest
from test_execution_evidence import (
    HIGH,
    HIGH_QK,
    LEARNED,
    LOW,
    FakeCtx,
    case,
    fake_result,
)

from geomclaims.registry import NotRun
from geomclaims.studies.execution import experiment as X
from geomclaims.studies.execution.profiles import (
    DEFERRED_RUNS,
    MAIN_VARIANT,
    PROFILE_SETTINGS,
    deferred_run,
    train_config,
)


def _ctx(profile: str) -> FakeCtx:
    ctx = FakeCtx(
        {
            "main": fake_result(HIGH_QK, LEARNED),
            "mlp": fake_result(HIGH, LEARNED, seed=2, mlp=True),
            "mul": fake_result(HIGH, LEARNED, seed=3),
            "curriculum": fake_result(LOW, LEARNED),
        }
    )
    ctx.settings = dict(PROFILE_SETTINGS[profile])
    ctx.settings["ordering_seeds"] = ctx.settings["seeds"] = [0, 1, 2]
    return ctx


DEFERRED_CASES = [
    ("mlp", lambda ctx: X.trajectory_evidence(case("mlp_minus_attn", "seeds_ci", measure="r90"), ctx)),
    (
        "modulus_pair",
        lambda ctx: X.trajectory_evidence(case("mul_minus_add", "seeds_ci", measure="r90"), ctx),
    ),
    ("curriculum", lambda ctx: X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)),
]


@pytest.mark.parametrize(("name", "evidence"), DEFERRED_CASES, ids=[n for n, _ in DEFERRED_CASES])
def test_ci_defers_the_run_before_training_it_and_smoke_runs_it(name: str, evidence) -> None:
    ctx = _ctx("ci")
    with pytest.raises(NotRun, match="budget deferral") as exc:
        evidence(ctx)
    assert DEFERRED_RUNS[name] in str(exc.value)
    # never trained: no config of the deferred kind was handed to ctx.run (only the main run's, at the task's C)
    main_C = train_config(dict(ctx.settings), MAIN_VARIANT, "cpu")["task"]["C"]
    assert ctx.configs and not any(
        c["model"]["mlp"] or c["task"]["schedule"] == "curriculum" or c["task"]["C"] != main_C
        for c in ctx.configs
    )
    assert evidence(_ctx("smoke")).measured is not None  # the same case runs where the run is not deferred


def test_ci_defers_exactly_the_named_runs_and_full_defers_none() -> None:
    ci = PROFILE_SETTINGS["ci"]
    assert sorted(ci["deferred_runs"]) == sorted(DEFERRED_RUNS)
    assert (
        PROFILE_SETTINGS["full"]["deferred_runs"] == [] and PROFILE_SETTINGS["smoke"]["deferred_runs"] == []
    )
    assert deferred_run(ci) is None  # the main run
    assert deferred_run(ci, mlp=True) == "mlp" and deferred_run(ci, schedule="curriculum") == "curriculum"
    assert deferred_run(ci, C=7) == "modulus_pair"
    assert deferred_run(PROFILE_SETTINGS["full"], mlp=True) is None


def test_an_unknown_deferred_run_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown run.*'mpl'"):
        deferred_run({"deferred_runs": ["mpl"]}, mlp=True)


def test_ci_compiles_only_runs_long_enough_to_repay_it() -> None:
    ci = dict(PROFILE_SETTINGS["ci"])
    assert train_config(ci, MAIN_VARIANT, "cpu")["compile"]  # 16,000 steps
    assert not train_config(ci, "paper", "cpu")["compile"]  # 600 steps
    assert train_config(ci, MAIN_VARIANT, "cpu", C=7)["compile"]  # a 3000-step side run
    assert not train_config({**ci, "compile_min_steps": 3001}, MAIN_VARIANT, "cpu", C=7)["compile"]
    assert train_config(dict(PROFILE_SETTINGS["full"]), "paper", "cpu")["compile"]
