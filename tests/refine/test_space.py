"""Every registered architecture can be tuned: each sampler's draws build the model."""

from __future__ import annotations

import math

import optuna
import pytest

from architectures import registry
from factory.refine.space import SAMPLERS, distributions, make_sampler, study_space, suggest

SPECS = [s for s in registry.available() if s.search_space or s.param_grid]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_draw_builds_the_architecture(spec: registry.ArchitectureSpec, sampler: str) -> None:
    space = study_space(spec, sampler)
    study = optuna.create_study(direction="maximize", sampler=make_sampler(sampler, space, 0))
    dists = distributions(space)
    draws = 3
    if sampler == "grid":  # GridSampler stops the study once every point was told
        draws = min(draws, math.prod(len(v) for v in spec.param_grid.values()) - 1)
    for _ in range(draws):
        trial = study.ask()
        params = suggest(trial, space)
        assert set(params) == set(space)
        for name, value in params.items():
            assert dists[name]._contains(dists[name].to_internal_repr(value))
        model = spec.build(params)
        assert {k: getattr(model, k) for k in params} == params
        study.tell(trial, 0.0)
