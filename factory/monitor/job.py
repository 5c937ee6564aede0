"""The monitor job: health of the live set against each config's own validation baseline.

For the bar ``as_of`` (time key ``monitor_key(as_of)``), every config in the live set as
it stood at that bar (`decisions.cycle_in_force`: a bar replayed after downtime is judged
against the set that was live then, not one promoted later) — and every config whose
stored state is still yellow or red, so that it can recover — is judged by
:func:`rating.health.assess`:

- **baseline**: its out-of-sample signals up to the last bar rated when it was last
  promoted (at most ``[monitor] baseline_bars`` bars) — the record it was promoted on;
- **recent**: its signals after that bar, up to ``as_of`` (at most ``[monitor]
  recent_bars`` bars);
- **realised**: the label the models are trained on, the forward return over
  ``[evaluation] horizon`` bars, computed from closes up to ``as_of`` only (a label not
  yet known at ``as_of`` is not used: point in time).

Data drift: the KS test of each input feature of the config's feature set, recent window
vs the baseline window — the samples (bar, asset) of the same bars as the two prediction
windows. The reference is thus the feature distribution the config was *validated* on
(the out-of-sample stretch before its promotion), not the exact rows of its last fit,
which the evaluation does not store. The frames come from the feature cache the
evaluation filled for this data version (``[monitor] data_drift = false`` turns the
check off; ``assess`` then lists it as skipped).

Effects, all in one transaction per run: the verdicts in ``health_status``; on every
change of state a ``health_change`` event with the reasons; and what the turn asks for
(`factory.monitor.retrain`): a turn to red a forced refit at the config's next bar, a turn
from green to yellow a shadow challenger — rows of ``retrains`` with a
``retrain_requested`` event each (``mode`` "refit" or "shadow"). The evaluate job applies
the refits; the ``challenge`` job runs the challengers (`factory.monitor.challenger`). Red
configs of the *current* live set are then demoted out of cycle
(:mod:`factory.monitor.demotion`), and the rating's health gate keeps them out of the next
promotion cycles while red.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from factory.app import App
from factory.catalog import eval_params
from factory.data.market import MarketData
from factory.evaluation.inputs import compute_features
from factory.monitor.alerts import Alert
from factory.monitor.demotion import health_demotion
from factory.monitor.retrain import Turn, retrain_requests
from factory.storage import decisions
from factory.storage.bars import load_market_data
from factory.storage.events import EventRecord
from factory.storage.health import HealthRow, load_health, promotion_bars, save_health
from factory.storage.results import evaluation_states, load_configs, signals_between
from factory.storage.retrains import RetrainRequest, load_retrains
from features.frame import FeatureFrame
from features.registry import get_feature_set
from features.windows import forward_returns
from rating.health import HealthPolicy, HealthReport, Predictions, assess

_SEVERITY = {"green": "info", "yellow": "warning", "red": "error"}
log = logging.getLogger(__name__)


def monitor_key(bar: datetime | pd.Timestamp) -> str:
    """The monitor's time key: the bar it judges (``2026-11-22T00:00``); sorts in time."""
    return f"{pd.Timestamp(bar):%Y-%m-%dT%H:%M}"


@dataclass(frozen=True)
class Verdict:
    config_id: str
    previous: str
    state: str
    reasons: tuple[str, ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class MonitorOutcome:
    time_key: str
    verdicts: tuple[Verdict, ...] = ()
    demotion_cycle: str | None = None  # time key of the out-of-cycle demotion, if any
    alerts: tuple[Alert, ...] = field(default_factory=tuple)
    note: str = ""

    def summary(self) -> str:
        if self.note:
            return self.note
        counts = {s: sum(v.state == s for v in self.verdicts) for s in ("green", "yellow", "red")}
        changed = sum(v.state != v.previous for v in self.verdicts)
        text = (
            f"{len(self.verdicts)} checked: {counts['green']} green, {counts['yellow']} yellow, "
            f"{counts['red']} red; {changed} changed"
        )
        if self.demotion_cycle:
            text += f"; demoted out of cycle ({self.demotion_cycle})"
        return text


def split_windows(
    signals: pd.DataFrame,
    promoted_bar: datetime,
    as_of: datetime,
    baseline_bars: int,
    recent_bars: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(baseline, recent) rows of a bars x assets signal frame: bars <= ``promoted_bar``
    (the last ``baseline_bars``), and bars in (``promoted_bar``, ``as_of``] (the last
    ``recent_bars``)."""
    signals = signals.loc[signals.index <= pd.Timestamp(as_of)]
    cut = pd.Timestamp(promoted_bar)
    baseline = signals.loc[signals.index <= cut].iloc[-baseline_bars:]
    recent = signals.loc[signals.index > cut].iloc[-recent_bars:]
    return baseline, recent


def window_signals(
    app: App,
    cid: str,
    promoted_bar: datetime,
    as_of: datetime,
    bars: pd.DatetimeIndex,
    lookback: int,
) -> pd.DataFrame:
    """Bars x assets signals of ``cid`` from ``lookback`` bars before ``promoted_bar`` up to
    ``as_of`` (only what the two windows can use is read)."""
    first = max(int(bars.searchsorted(pd.Timestamp(promoted_bar), side="right")) - lookback, 0)
    start = bars[first].to_pydatetime() if len(bars) else None
    long = signals_between(app.db, start, pd.Timestamp(as_of).to_pydatetime(), [cid])
    if long.empty:
        return pd.DataFrame(dtype=float)
    return long.pivot(index="ts", columns="asset", values="signal").sort_index()


def realised_labels(data: MarketData, as_of: datetime, horizon: int) -> pd.DataFrame:
    """Bars x assets forward returns over ``horizon`` known at ``as_of`` (NaN otherwise)."""
    close = data.panel()["close"]
    close = close.loc[close.index <= pd.Timestamp(as_of)]
    values = forward_returns(close.to_numpy(dtype=np.float64, na_value=np.nan), horizon)
    return pd.DataFrame(values, index=close.index, columns=close.columns)


def feature_rows(frame: FeatureFrame, bars: pd.DatetimeIndex) -> pd.DataFrame:
    """The (bar, asset) samples of ``frame`` at ``bars`` as rows, one column per feature."""
    at = frame.timestamps.get_indexer(bars)
    at = at[at >= 0]
    values = np.asarray(frame.values[at], dtype=np.float64).reshape(-1, len(frame.names))
    return pd.DataFrame(values, columns=list(frame.names))


def judge(
    signals: pd.DataFrame,
    realised: pd.DataFrame,
    promoted_bar: datetime,
    as_of: datetime,
    *,
    baseline_bars: int,
    recent_bars: int,
    policy: HealthPolicy,
    features: FeatureFrame | None = None,
) -> HealthReport:
    """``assess`` one config's signals (bars x assets) against the realised labels, and
    (with ``features``) the feature drift between the same two windows."""
    baseline, recent = split_windows(signals, promoted_bar, as_of, baseline_bars, recent_bars)

    def predictions(frame: pd.DataFrame) -> Predictions:
        labels = realised.reindex(index=frame.index, columns=frame.columns)
        return Predictions.from_wide(frame, labels)

    drift: dict[str, pd.DataFrame] = {}
    if features is not None:
        drift = {
            "training_features": feature_rows(features, pd.DatetimeIndex(baseline.index)),
            "recent_features": feature_rows(features, pd.DatetimeIndex(recent.index)),
        }
    return assess(predictions(baseline), predictions(recent), policy=policy, **drift)


def request_event(request: RetrainRequest, key: str) -> EventRecord:
    """The ``retrain_requested`` event of a stored request."""
    what = (
        "forced refit at the next bar"
        if request.mode == "refit"
        else "shadow challenger from the next bar"
    )
    return EventRecord(
        kind="retrain_requested",
        subject=request.config_id,
        severity="warning",
        message=f"{what} ({request.reason})",
        detail={
            "mode": request.mode,
            "time_key": key,
            "after": request.after_ts.isoformat(),
            "reason": request.reason,
        },
    )


def monitored_configs(active: Sequence[str], stored: dict[str, HealthRow]) -> list[str]:
    """The live set, then every other config whose stored state is not green."""
    rest = sorted(cid for cid, row in stored.items() if row.state != "green" and cid not in active)
    return [*active, *rest]


def monitor_job(
    app: App,
    *,
    as_of: datetime | None = None,
    time_key: str | None = None,
    data: MarketData | None = None,
) -> MonitorOutcome:
    """Judge the live set as of bar ``as_of`` (default: the last bar); see the module
    docstring. Runs under the daemon's ``runs`` bookkeeping (once per time key)."""
    db = app.db
    settings = app.settings
    now = app.now()
    if data is None:
        data = load_market_data(db, assets=settings.data.assets or None)
    bar = pd.Timestamp(as_of) if as_of is not None else data.timestamps[-1]
    key = time_key or monitor_key(bar)
    cycle = decisions.latest_cycle(db)  # the live set now: what a demotion changes
    in_force = decisions.cycle_in_force(db, bar.to_pydatetime())
    active = list(in_force.active) if in_force else []  # the live set at ``bar``
    stored = load_health(db)
    configs = load_configs(db)
    known = set(configs.index)
    ids = [cid for cid in monitored_configs(active, stored) if cid in known]
    if not ids:
        return MonitorOutcome(key, note="nothing to monitor: the live set is empty")
    promoted = promotion_bars(db, ids)
    realised = realised_labels(data, bar, settings.evaluation.horizon)
    policy = settings.health.policy()
    m = settings.monitor
    naive_now = now.replace(tzinfo=None)
    rows: list[HealthRow] = []
    events: list[EventRecord] = []
    verdicts: list[Verdict] = []
    alerts: list[Alert] = []
    red: dict[str, tuple[str, ...]] = {}
    turns: list[Turn] = []
    frames: dict[str, FeatureFrame | None] = {}

    def features_of(cid: str) -> FeatureFrame | None:
        if not m.data_drift:
            return None
        name = str(configs.loc[cid, "feature_set"])
        if name not in frames:
            try:
                frames[name] = compute_features(data, get_feature_set(name), settings.cache_dir)
            except (KeyError, ValueError) as exc:  # unknown set, or missing columns
                log.warning("monitor: no features of %s for data drift (%s)", name, exc)
                frames[name] = None
        return frames[name]

    for cid in ids:
        if cid not in promoted:
            continue  # never promoted: no validation baseline
        report = judge(
            window_signals(app, cid, promoted[cid], bar, data.timestamps, m.baseline_bars),
            realised,
            promoted[cid],
            bar,
            baseline_bars=m.baseline_bars,
            recent_bars=m.recent_bars,
            policy=policy,
            features=features_of(cid),
        )
        before = stored.get(cid)
        previous = before.state if before is not None else "green"
        state = report.state
        reasons = report.reasons
        changed = state != previous
        rows.append(
            HealthRow(
                config_id=cid,
                state=state,
                since=naive_now if changed or before is None else before.since,
                checked_at=naive_now,
                time_key=key,
                as_of=bar.to_pydatetime(),
                reasons=reasons,
                metrics=dict(report.metrics),
            )
        )
        verdicts.append(Verdict(cid, previous, state, reasons, report.skipped))
        if state == "red":
            red[cid] = reasons
        if not changed:
            continue
        why = "; ".join(reasons) if reasons else "every check within limits"
        detail = {
            "previous": previous,
            "state": state,
            "reasons": list(reasons),
            "skipped": list(report.skipped),
            "time_key": key,
            "as_of": bar.isoformat(),
        }
        events.append(
            EventRecord(
                kind="health_change",
                subject=cid,
                severity=_SEVERITY[state],
                message=f"health {previous} -> {state} at bar {key}: {why}",
                detail=detail,
            )
        )
        turns.append(Turn(cid, previous, state, reasons))
        if state == "red":
            alerts.append(
                Alert(
                    "health_red",
                    f"{cid} health {previous} -> red at bar {key}: {why}",
                    subject=cid,
                    detail=detail,
                )
            )
    requests = retrain_requests(
        turns,
        evaluation_states(db, [t.config_id for t in turns]),
        {r.config_id for r in load_retrains(db, statuses=("running",))},
        bar=bar.to_pydatetime(),
        eval_key=eval_params(settings).key,
        refit_on_red=m.refit_on_red,
        challenger_on_yellow=m.challenger_on_yellow,
    )
    events.extend(request_event(r, key) for r in requests)
    save_health(db, rows, events, requests, at=naive_now)
    demotion_key = None
    if cycle is not None:
        demotion = health_demotion(list(cycle.active), red, now)
        cycle_key = f"{key}{decisions.HEALTH_SUFFIX}"
        if demotion is not None and decisions.cycle_by_key(db, cycle_key) is None:
            decisions.save_cycle(db, demotion, time_key=cycle_key, snapshot_id=None)
            demotion_key = cycle_key
            if not demotion.active:
                alerts.append(Alert("empty_live_set", f"the live set is empty: {demotion.note}"))
    return MonitorOutcome(key, tuple(verdicts), demotion_key, tuple(alerts))
