"""decide_promotions(): each rule on hand-built ratings, purity, and churn under noise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from rating import RatingPolicy, Ratings, TrialPopulation, decide_promotions

NOW = datetime(2025, 3, 1, 18, 0)
LONG_AGO = NOW - timedelta(days=30)


def make_ratings(
    scores: Mapping[str, float],
    *,
    dsr: Mapping[str, float] | None = None,
    drawdown: Mapping[str, float] | None = None,
    failed: tuple[str, ...] = (),
    health: Mapping[str, str] | None = None,
    corr: Mapping[tuple[str, str], float] | None = None,
    pbo: float | None = None,
) -> Ratings:
    """Ratings with just the columns decide_promotions reads (others are irrelevant)."""
    ids = list(scores)
    table = pd.DataFrame(
        {
            "score": [scores[c] for c in ids],
            "dsr": [(dsr or {}).get(c, 0.99) for c in ids],
            "max_drawdown": [(drawdown or {}).get(c, -0.10) for c in ids],
            "n_obs": [500] * len(ids),
            "failed": [c in failed for c in ids],
            "health": [(health or {}).get(c, "green") for c in ids],
        },
        index=pd.Index(ids, name="config_id"),
    )
    order = table["score"].rank(ascending=False, method="first").astype(int)
    table["rank"] = order
    matrix = pd.DataFrame(np.eye(len(ids)) * 1.0, index=ids, columns=ids)
    matrix[matrix == 0] = 0.1
    for (a, b), rho in (corr or {}).items():
        matrix.loc[a, b] = matrix.loc[b, a] = rho
    return Ratings(
        table=table,
        as_of=NOW,
        n_trials=len(ids),
        n_trials_effective=float(len(ids)),
        mean_correlation=0.1,
        sr_variance=0.001,
        sr_benchmark=0.08,
        pbo=pbo,
        correlations=matrix,
    )


def ladder(n: int, prefix: str = "c") -> dict[str, float]:
    """n configs with strictly decreasing scores: c00 best."""
    return {f"{prefix}{i:02d}": 1.0 - i / 100 for i in range(n)}


def decision(cycle, config_id: str):
    return next(d for d in cycle.decisions if d.config_id == config_id)


def test_fills_the_target_by_score_from_an_empty_live_set() -> None:
    cycle = decide_promotions(make_ratings(ladder(20)), {}, NOW)
    assert cycle.active == tuple(f"c{i:02d}" for i in range(12))
    assert cycle.at == NOW
    assert [d.action for d in cycle.decisions] == ["promoted"] * 12
    assert cycle.by_action("promoted") == cycle.decisions
    assert cycle.by_action("kept") == () and cycle.by_action("skipped") == ()
    assert decision(cycle, "c02").reason == "rank 3 of 20 eligible, score 0.98, DSR 0.99"
    assert decision(cycle, "c02").rank == 3
    assert cycle.note.startswith("active 12 (target 12): promoted 12, kept 0, demoted 0")


def test_incumbent_within_exit_rank_is_kept_and_beyond_it_demoted() -> None:
    ratings = make_ratings(ladder(40))
    incumbents = {"c19": LONG_AGO, "c29": LONG_AGO}  # standings 20 and 30; exit rank 24
    cycle = decide_promotions(ratings, incumbents, NOW)
    kept, demoted = decision(cycle, "c19"), decision(cycle, "c29")
    assert kept.action == "kept" and "within exit rank 24" in kept.reason
    assert demoted.action == "demoted"
    assert demoted.reason == "demoted: rank 30 > exit rank 24 (score 0.71)"
    assert "c19" in cycle.active and "c29" not in cycle.active
    assert len(cycle.active) == 12  # c19 + the 11 best newcomers
    assert cycle.active[-1] == "c19"  # ordered by standing


def test_minimum_holding_period_protects_against_rank_but_not_gates() -> None:
    ratings = make_ratings(ladder(40), drawdown={"c05": -0.41})
    incumbents = {"c29": NOW - timedelta(days=2), "c05": NOW - timedelta(hours=3)}
    cycle = decide_promotions(ratings, incumbents, NOW)
    held = decision(cycle, "c29")
    assert held.action == "kept"
    assert held.reason.startswith("kept inside minimum holding period (promoted 2 days ago)")
    gated = decision(cycle, "c05")
    assert gated.action == "demoted"
    assert gated.reason == "demoted: fails gate max drawdown 41% > 35%"
    assert gated.rank is None


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"failed": ("c03",)}, "demoted: fails gate failed evaluation"),
        ({"health": {"c03": "red"}}, "demoted: fails gate health red"),
        ({"dsr": {"c03": 0.85}}, "demoted: fails gate DSR 0.85 < 0.90"),
    ],
)
def test_every_gate_demotes_an_incumbent(kwargs: dict, reason: str) -> None:
    cycle = decide_promotions(make_ratings(ladder(20), **kwargs), {"c03": LONG_AGO}, NOW)
    assert decision(cycle, "c03").reason == reason
    assert "c03" not in cycle.active


def test_dsr_exit_band_keeps_incumbent_but_does_not_admit_newcomer() -> None:
    ratings = make_ratings(ladder(20), dsr={"c00": 0.92, "c01": 0.92})
    cycle = decide_promotions(ratings, {"c00": LONG_AGO}, NOW)
    assert decision(cycle, "c00").action == "kept"
    assert "c01" not in cycle.active  # 0.92 < entry threshold 0.95
    assert all(d.config_id != "c01" for d in cycle.decisions)


def test_incumbent_no_longer_rated_is_demoted() -> None:
    cycle = decide_promotions(make_ratings(ladder(20)), {"gone": LONG_AGO}, NOW)
    gone = decision(cycle, "gone")
    assert (gone.action, gone.rank, gone.score) == ("demoted", None, None)
    assert gone.reason == "demoted: no longer rated"


def test_correlated_candidate_is_skipped_with_a_reason() -> None:
    ratings = make_ratings(ladder(20), corr={("c00", "c01"): 0.93})
    cycle = decide_promotions(ratings, {}, NOW)
    assert "c01" not in cycle.active
    assert len(cycle.active) == 12 and "c12" in cycle.active
    (skip,) = cycle.skipped
    assert skip.config_id == "c01" and skip.action == "skipped"
    assert skip.reason == "skipped: correlation 0.93 with c00 > cap 0.80"
    assert "1 candidate skipped for correlation > 0.80" in cycle.note


def test_correlation_cap_is_relaxed_only_to_reach_min_active() -> None:
    ratings = make_ratings(ladder(10), corr={("c00", "c01"): 0.93, ("c02", "c03"): 0.95})
    cycle = decide_promotions(ratings, {}, NOW)
    assert len(cycle.active) == 10  # all eligible, although two pairs exceed the cap
    relaxed = decision(cycle, "c03")
    assert relaxed.action == "promoted"
    assert "correlation 0.95 with c02 exceeds cap 0.80 but needed to reach min_active 10" in (
        relaxed.reason
    )
    assert cycle.skipped == ()
    assert "correlation cap relaxed for 2 configs" in cycle.note


def test_fewer_eligible_than_min_active_explains_why() -> None:
    scores = ladder(20)
    dsr = {c: 0.5 for c in list(scores)[4:18]}
    ratings = make_ratings(scores, dsr=dsr, drawdown={"c18": -0.6, "c19": -0.5})
    cycle = decide_promotions(ratings, {}, NOW)
    assert cycle.active == ("c00", "c01", "c02", "c03")
    assert (
        "only 4 configs eligible (need 10): 2 fail the max drawdown gate, "
        "14 fail the DSR gate" in cycle.note
    )


def test_live_set_above_max_active_demotes_worst_unprotected() -> None:
    ratings = make_ratings(ladder(30))
    incumbents = {f"c{i:02d}": LONG_AGO for i in range(17)}
    incumbents["c16"] = NOW - timedelta(days=1)  # protected by the holding period
    cycle = decide_promotions(ratings, incumbents, NOW)
    assert len(cycle.active) == 15
    assert {d.config_id for d in cycle.decisions if d.action == "demoted"} == {"c14", "c15"}
    assert decision(cycle, "c15").reason == "demoted: live set above max_active 15 (rank 16)"
    assert "c16" in cycle.active


def test_pure_same_inputs_same_cycle_and_inputs_unchanged() -> None:
    ratings = make_ratings(ladder(30), corr={("c00", "c05"): 0.9})
    before = ratings.table.copy()
    incumbents = {"c07": LONG_AGO, "c25": NOW - timedelta(days=1)}
    first = decide_promotions(ratings, incumbents, NOW)
    second = decide_promotions(ratings, dict(incumbents), NOW)
    assert first == second
    pd.testing.assert_frame_equal(ratings.table, before)


def test_hysteresis_reduces_churn_under_noisy_scores() -> None:
    """60 daily cycles; each config has a fixed quality and its score is quality plus
    fresh noise every day. Hysteresis (exit rank 2K, 5-day holding) must churn far less
    than a policy that re-picks the top K daily."""
    ids = [f"c{i:03d}" for i in range(100)]
    quality = np.linspace(1.0, 0.0, 100)
    with_h = RatingPolicy()
    without = RatingPolicy(exit_rank_multiple=1.0, min_holding=timedelta(0))

    def churn(policy: RatingPolicy) -> int:
        noise_rng = np.random.default_rng(1)
        live: dict[str, datetime] = {}
        changes = 0
        for day in range(60):
            now = NOW + timedelta(days=day)
            scores = quality + noise_rng.normal(0.0, 0.15, size=100)
            ratings = make_ratings(dict(zip(ids, scores, strict=True)))
            cycle = decide_promotions(ratings, live, now, policy)
            if day:  # day 0 fills the empty set
                changes += sum(d.action in ("promoted", "demoted") for d in cycle.decisions)
            live = {c: live.get(c, now) for c in cycle.active}
        return changes

    calm, churny = churn(with_h), churn(without)
    assert churny > 100  # the noise is strong enough to matter
    assert calm < 0.5 * churny


def test_note_counts_failed_configs_in_plain_words() -> None:
    scores = ladder(12)
    ratings = make_ratings(scores, failed=("c00", "c01"), dsr={"c02": 0.5})
    cycle = decide_promotions(ratings, {}, NOW)
    assert "2 failed to evaluate, 1 fails the DSR gate" in cycle.note
    assert "fail the failed gate" not in cycle.note


@pytest.mark.parametrize(
    ("pbo", "expected", "warned"),
    [(None, "pool PBO n/a", False), (0.31, "pool PBO 0.31", False), (0.62, "pool PBO 0.62", True)],
)
def test_note_states_pool_pbo_and_warns_above_the_threshold(
    pbo: float | None, expected: str, warned: bool
) -> None:
    cycle = decide_promotions(make_ratings(ladder(20), pbo=pbo), {}, NOW)
    assert expected in cycle.note
    assert ("warning: above 0.50" in cycle.note) is warned
    assert len(cycle.active) == 12  # a warning alone changes no decision


def test_pool_pbo_gate_blocks_newcomers_but_keeps_incumbents() -> None:
    policy = RatingPolicy(max_pool_pbo=0.5)
    incumbents = {"c03": LONG_AGO, "c05": LONG_AGO, "c30": LONG_AGO}
    ratings = make_ratings(ladder(40), pbo=0.7)
    cycle = decide_promotions(ratings, incumbents, NOW, policy)
    assert cycle.active == ("c03", "c05")
    assert cycle.by_action("promoted") == ()
    assert decision(cycle, "c30").action == "demoted"  # rank rule still applies
    blocked = {d.config_id: d.reason for d in cycle.skipped}
    assert set(blocked) == {f"c{i:02d}" for i in range(40)} - set(incumbents)
    assert all("pool PBO 0.70 > max_pool_pbo 0.50" in r for r in blocked.values())
    assert "new promotions blocked: PBO above max_pool_pbo 0.50 (37 eligible" in cycle.note
    assert "below min_active 10 because new promotions are blocked" in cycle.note
    assert "only" not in cycle.note  # the set is short because of the gate, not eligibility
    # At or below the gate, or when PBO is unknown, the cycle fills the set as usual.
    for pbo in (0.5, None):
        open_cycle = decide_promotions(make_ratings(ladder(40), pbo=pbo), incumbents, NOW, policy)
        assert len(open_cycle.active) == 12
        assert "blocked" not in open_cycle.note


def test_note_states_the_trial_population_and_rating_caveats() -> None:
    base = make_ratings(ladder(20))
    ratings = Ratings(
        **{
            **base.__dict__,
            "n_trials": 26,
            "population": TrialPopulation(evaluated=20, failed=1, pending=5, with_returns=20),
            "notes": ("policy benchmark 'universe' but no benchmark series given",),
        }
    )
    cycle = decide_promotions(ratings, {}, NOW)
    assert "DSR deflated by 26 trials (20 evaluated, 1 failed, 5 pending)" in cycle.note
    assert cycle.note.endswith("no benchmark series given")
