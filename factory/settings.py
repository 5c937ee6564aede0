"""Settings: ``factory.toml`` + ``FACTORY_*`` environment variables, every default embedded.

Precedence, highest first: explicit overrides (CLI flags) > environment > file > defaults.

* The file is ``$FACTORY_CONFIG`` if set, else ``./factory.toml`` if it exists; no file is
  needed at all.
* Top-level keys map to ``FACTORY_<KEY>`` (``FACTORY_DB_URL``); section keys to
  ``FACTORY_<SECTION>__<KEY>`` (``FACTORY_EVALUATION__COST_BPS=10``).
* Unknown keys are rejected with the file, the section and a "did you mean" hint.
* Secrets from files (the convention of the official postgres image): for every variable
  above, ``FACTORY_<NAME>_FILE=/run/secrets/...`` reads the value from that file instead
  (``FACTORY_DB_URL_FILE``, ``FACTORY_API__TOKEN_FILE``); trailing newlines are dropped.
  Setting both ``FACTORY_X`` and ``FACTORY_X_FILE``, a missing, unreadable or empty file,
  or ``_FILE`` on a name that is not a setting is an error naming the variable and file.
  `env_variables` lists every accepted name, derived from the model.

Relative paths (database file, artifacts, outputs, cache) are relative to the working
directory.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from rating.health import HealthPolicy
from rating.policy import RatingPolicy

CONFIG_ENV = "FACTORY_CONFIG"
ENV_PREFIX = "FACTORY_"
SECTION_DELIMITER = "__"
FILE_SUFFIX = "_FILE"
DEFAULT_CONFIG_FILE = "factory.toml"


class SettingsError(ValueError):
    """A settings file or variable is invalid; the message names the source and key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(Section):
    """Which stored bars the factory works on."""

    assets: list[str] = Field(
        default_factory=list, description="restrict to these assets; empty = all"
    )
    future_tolerance_hours: float = Field(
        24.0, ge=0, description="an imported bar may be stamped at most this far after the import"
    )


class PlanSettings(Section):
    """How architectures expand into configs."""

    architectures: list[str] = Field(
        default_factory=list, description="architectures to expand; empty = every registered one"
    )
    lookbacks: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [7, 14, 30, 60, 90],
        min_length=1,
        description="lookback windows in bars (at least one)",
    )
    feature_sets: list[str] = Field(
        default_factory=list, description="feature pipelines to use; empty = every registered one"
    )
    feature_selection: list[str] = Field(
        default_factory=lambda: ["none"],
        description="feature selection methods to expand: none, correlation, l1, rfe",
    )
    grids: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict,
        description="per-architecture param grids replacing the built-in ones, e.g. {ppo = {total_timesteps = [5000]}}",
    )
    budget: int = Field(486, ge=1, description="most configs the plan may yield")
    family_budgets: dict[str, int] = Field(
        default_factory=lambda: {"classical": 216, "deep": 160, "econometric": 46, "rl": 64},
        description="most configs per family (an equal share per architecture); families not named are not capped",
    )
    max_grid: int = Field(
        0, ge=0, description="most param combinations per architecture; 0 = the whole grid"
    )

    @model_validator(mode="after")
    def _check(self) -> PlanSettings:
        if any(lb < 1 for lb in self.lookbacks):
            raise ValueError("lookbacks must be positive")
        return self


class EvaluationSettings(Section):
    """Walk-forward evaluation. All lengths are in bars."""

    horizon: int = Field(1, ge=1, description="label = forward return over this many bars")
    retrain_every: int = Field(63, ge=1, description="refit the model every this many bars")
    window: Literal["expanding", "rolling"] = "expanding"
    train_window: int = Field(1260, ge=10, description="training bars of a rolling window")
    min_train: int = Field(504, ge=10, description="bars of history before the first prediction")
    purge: int | None = Field(
        None, ge=0, description="bars dropped before each test block; default = horizon"
    )
    embargo: int = Field(0, ge=0, description="extra bars dropped after the purge")
    cost_bps: float = Field(
        5.0, ge=0, description="cost per unit of |position change|, in basis points"
    )
    costs: dict[str, float] = Field(
        default_factory=dict,
        description='cost in bps by asset name pattern, first match wins, e.g. {"BTC*" = 20.0}; others pay cost_bps',
    )
    slippage_vol: float = Field(
        0.0,
        ge=0,
        description="extra cost per unit of turnover = this x the asset's trailing volatility of one-bar returns",
    )
    execution: Literal["close", "next_open", "next_close"] = Field(
        "next_close",
        description="when a decision at bar t trades: at t's close, t+1's open or t+1's close",
    )
    max_gap_bars: int = Field(
        21,
        ge=1,
        description="a position whose asset has had no bar for longer is closed at its last price",
    )
    label: Literal["raw", "excess"] = Field(
        "raw",
        description="training label: the forward return, or that in excess of the universe's mean",
    )
    warm_start: bool = Field(
        True, description="continue each block's fit from the previous block's model when possible"
    )
    stagger_retrains: bool = Field(
        True,
        description="spread refits over the days: each config's first block is cut short by its own offset",
    )
    start: date | None = Field(None, description="first bar to predict (default: after min_train)")
    seed: int = 0
    max_train_samples: int = Field(
        200_000, ge=100, description="most pooled training samples per fit (the newest are kept)"
    )
    time_budget_s: float = Field(
        3600.0, gt=0, description="seconds a config may take before it fails"
    )
    max_attempts: int = Field(
        3, ge=1, description="evaluations of a failing config before `factory run` gives up"
    )
    retry_backoff_minutes: float = Field(
        30.0, ge=0, description="wait before retrying a failed config; doubles per attempt"
    )

    @model_validator(mode="after")
    def _check(self) -> EvaluationSettings:
        if self.purge is not None and self.purge < self.horizon:
            raise ValueError(
                f"purge ({self.purge}) must be at least horizon ({self.horizon}): a shorter purge "
                "trains on labels not yet known when the block is predicted"
            )
        return self

    @property
    def purge_bars(self) -> int:
        return self.horizon if self.purge is None else self.purge


_POLICY = RatingPolicy()


class RatingSettings(Section):
    """Rating, eligibility and promotion (every key is documented in docs/metrics.md)."""

    periods_per_year: int = Field(_POLICY.periods_per_year, ge=1)
    windows: list[int] = Field(
        default_factory=lambda: list(_POLICY.windows), description="trailing Sharpe windows (bars)"
    )
    min_overlap: int = Field(
        _POLICY.min_overlap, ge=2, description="common bars needed for a correlation"
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: dict(_POLICY.weights),
        description="composite score weights by metric",
    )
    score_method: Literal["rank", "zscore"] = _POLICY.score_method
    winsor_quantile: float = _POLICY.winsor_quantile
    min_track_record: int = Field(
        _POLICY.min_track_record, description="out-of-sample bars before a config is eligible"
    )
    max_drawdown_limit: float = Field(
        _POLICY.max_drawdown_limit, description="largest tolerated drawdown (fraction)"
    )
    dsr_threshold: float = Field(
        _POLICY.dsr_threshold, description="deflated Sharpe needed to enter the live set"
    )
    dsr_exit_threshold: float = Field(
        _POLICY.dsr_exit_threshold, description="deflated Sharpe an incumbent must keep"
    )
    min_active: int = _POLICY.min_active
    max_active: int = _POLICY.max_active
    top_k: int = Field(
        _POLICY.top_k, description="target size of the live set, within [min_active, max_active]"
    )
    correlation_cap: float = Field(
        _POLICY.correlation_cap, description="skip candidates more correlated than this"
    )
    exit_rank_multiple: float = Field(
        _POLICY.exit_rank_multiple, description="incumbents stay while rank <= this x target"
    )
    min_holding_days: float = Field(_POLICY.min_holding.total_seconds() / 86400, ge=0)
    benchmark: Literal["none", "universe"] = Field(
        _POLICY.benchmark,
        description="rate returns in excess of the beta-matched equal-weight universe, or raw",
    )
    sr_variance_method: Literal["null", "sample", "robust"] = Field(
        _POLICY.sr_variance_method, description="variance of trial Sharpes behind the DSR benchmark"
    )
    sr_autocorrelation: Literal["adjust", "ignore"] = Field(
        _POLICY.sr_autocorrelation,
        description="widen the Sharpe standard error for serially correlated returns",
    )
    compute_pbo: bool = _POLICY.compute_pbo
    pbo_partitions: int = _POLICY.pbo_partitions
    pbo_max_combinations: int | None = _POLICY.pbo_max_combinations
    pbo_warning: float = Field(
        _POLICY.pbo_warning, description="warn when the pool's PBO is above this"
    )
    max_pool_pbo: float | None = Field(
        _POLICY.max_pool_pbo, description="block new promotions when the pool's PBO is above this"
    )
    max_lag_bars: int = Field(
        3,
        ge=0,
        description="freshness: a config whose latest return lags the last bar by more bars is not eligible (and is demoted)",
    )

    @model_validator(mode="after")
    def _check(self) -> RatingSettings:
        self.policy()  # RatingPolicy validates the combination and names the bad keys
        return self

    def policy(self) -> RatingPolicy:
        values = self.model_dump(exclude={"max_lag_bars"})  # freshness: factory.monitor
        values["windows"] = tuple(values["windows"])
        values["min_holding"] = timedelta(days=values.pop("min_holding_days"))
        return RatingPolicy(**values)


_HEALTH = HealthPolicy()


class HealthSettings(Section):
    """Health and drift monitoring thresholds (docs/metrics.md, "Health and drift
    monitoring"; docs/operations.md, "Health monitoring"): mirror of
    ``rating.HealthPolicy``, read by the monitor job (``factory.monitor``)."""

    min_obs: int = Field(_HEALTH.min_obs, description="predictions needed per window")
    calibrate: bool = Field(_HEALTH.calibrate, description="scale predictions on the baseline")
    rmse_ratio_yellow: float = _HEALTH.rmse_ratio_yellow
    rmse_ratio_red: float = _HEALTH.rmse_ratio_red
    mae_ratio_yellow: float = _HEALTH.mae_ratio_yellow
    mae_ratio_red: float = _HEALTH.mae_ratio_red
    r2_drop_yellow: float = _HEALTH.r2_drop_yellow
    r2_drop_red: float = _HEALTH.r2_drop_red
    large_error_k: float = Field(_HEALTH.large_error_k, description="large error: |e| > k sigma")
    large_error_excess_yellow: float = _HEALTH.large_error_excess_yellow
    large_error_excess_red: float = _HEALTH.large_error_excess_red
    large_error_alpha_yellow: float = _HEALTH.large_error_alpha_yellow
    large_error_alpha_red: float = _HEALTH.large_error_alpha_red
    min_asset_obs: int = _HEALTH.min_asset_obs
    fairness_gap_yellow: float = _HEALTH.fairness_gap_yellow
    fairness_gap_red: float = _HEALTH.fairness_gap_red
    fairness_alpha_yellow: float = _HEALTH.fairness_alpha_yellow
    fairness_alpha_red: float = _HEALTH.fairness_alpha_red
    concept_window: int = Field(_HEALTH.concept_window, description="bars of trailing accuracy")
    accuracy_drop_yellow: float = _HEALTH.accuracy_drop_yellow
    accuracy_drop_red: float = _HEALTH.accuracy_drop_red
    accuracy_alpha_yellow: float = _HEALTH.accuracy_alpha_yellow
    accuracy_alpha_red: float = _HEALTH.accuracy_alpha_red
    drift_correction: Literal["holm", "fdr_bh"] = Field(
        _HEALTH.drift_correction, description="multiple-testing correction across features"
    )
    drift_alpha: float = _HEALTH.drift_alpha
    drift_min_statistic: float = _HEALTH.drift_min_statistic
    drift_share_yellow: float = _HEALTH.drift_share_yellow
    drift_share_red: float = _HEALTH.drift_share_red

    @model_validator(mode="after")
    def _check(self) -> HealthSettings:
        self.policy()  # HealthPolicy validates the combination and names the bad keys
        return self

    def policy(self) -> HealthPolicy:
        return HealthPolicy(**self.model_dump())


class MonitorSettings(Section):
    """The monitor job's windows (docs/operations.md, "Health monitoring")."""

    baseline_bars: int = Field(
        500,
        ge=2,
        description="validation baseline: at most this many bars of out-of-sample record before promotion",
    )
    recent_bars: int = Field(
        120, ge=2, description="recent window: at most this many bars since promotion"
    )
    data_drift: bool = Field(
        True,
        description="KS test of each feature, recent window vs baseline window (from the feature cache)",
    )
    catch_up_bars: int = Field(
        48,
        ge=1,
        description="after downtime, the monitor runs once for each missed bar, at most this many (oldest first)",
    )
    refit_on_red: bool = Field(
        True,
        description="a config turning red gets a forced refit (from scratch) at its next bar",
    )
    challenger_on_yellow: bool = Field(
        True,
        description="a config turning yellow from green gets a shadow challenger (refitted at its next bar)",
    )
    challenger_bars: int = Field(
        21,
        ge=1,
        description="bars a challenger runs beside its champion; it replaces the champion only if it made strictly more after costs",
    )


class AlertSettings(Section):
    """Alerts on red health, a failed job, an empty live set, a quarantined file: always
    logged; also POSTed as JSON to ``webhook_url`` when set (docs/operations.md)."""

    webhook_url: str | None = Field(
        None, description="POST every alert as JSON to this URL; unset = log only"
    )
    timeout_seconds: float = Field(5.0, gt=0, description="webhook request timeout")


class PortfolioSettings(Section):
    """The book (used identically by evaluation, rebalance and simulation) and the limits
    of the live portfolio."""

    book: Literal["timeseries", "cross_sectional", "long_only"] = Field(
        "timeseries",
        description="timeseries: per-asset long/short; cross_sectional: dollar-neutral ranks; long_only: tilted equal weight",
    )
    cs_method: Literal["rank", "quantile"] = Field(
        "rank", description="cross_sectional book: demeaned ranks, or top/bottom quantiles"
    )
    cs_quantile: float = Field(0.2, gt=0, le=0.5, description="cross_sectional quantile book")
    tilt: float = Field(1.0, ge=0, description="long_only book: weight ∝ max(0, 1 + tilt x signal)")
    gross_limit: float = Field(1.0, gt=0, description="sum of |weights| at most this")
    max_weight: float = Field(1.0, gt=0, le=1, description="|weight| of one asset at most this")
    ensemble: Literal["equal", "score", "inverse_vol", "stacked"] = Field(
        "equal",
        description="member weights: equal, composite score, 1/volatility of own returns, stacked ridge",
    )
    ensemble_window: int = Field(
        252, ge=20, description="bars behind inverse_vol and the stacked meta-model"
    )
    stack_alpha: float = Field(1.0, gt=0, description="ridge penalty of the stacked meta-model")
    net_limit: float | None = Field(
        None, ge=0, description="|sum of weights| at most this (none = no limit)"
    )
    vol_target: float | None = Field(
        None, gt=0, description="annualised volatility the book is scaled down to (none = off)"
    )
    cov_window: int = Field(
        252, ge=20, description="bars of asset returns behind the Ledoit-Wolf covariance"
    )
    max_turnover: float | None = Field(
        None, gt=0, description="sum of |weight changes| per rebalance at most this (none = off)"
    )
    min_members: int = Field(
        1, ge=1, description="fewer active configs with a signal than this -> cash"
    )


class SchedulerSettings(Section):
    """Where evaluations run."""

    backend: Literal["ray", "serial"] = "ray"
    address: str | None = Field(None, description="Ray cluster address; none = start Ray locally")
    workers: int = Field(2, ge=1, description="local Ray CPUs / parallel tasks")
    lease_ttl_seconds: float = Field(
        60.0,
        ge=1,
        description="factory run: a job's lease (SQLite) outlives a crashed holder this long",
    )


class RefineSettings(Section):
    """`factory tune` and the daemon's refine job (docs/user-guide.md, "Tuning")."""

    tune_end: date | None = Field(
        None,
        description="studies read only bars before this date; none = the first tune_fraction of history",
    )
    tune_fraction: float = Field(
        0.6, gt=0, lt=1, description="share of history studies may read when tune_end is unset"
    )
    trials: int = Field(30, ge=1, description="trials per study (`factory tune --trials`)")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna sampler")
    prune_blocks: int = Field(
        4, ge=1, description="walk-forward segments a trial reports to the median pruner"
    )
    seed: int = Field(0, description="sampler seed")
    breed_top: int = Field(1, ge=0, description="best trials a finished study proposes as configs")
    pool_budget: int = Field(486, ge=1, description="configs the refine job keeps in the pool")
    min_track_bars: int = Field(
        60, ge=1, description="a config is retired for rank only after this many bars of record"
    )
    retire_quantile: float = Field(
        0.1, ge=0, le=1, description="bottom share of the rated pool the refine job may retire"
    )
    max_retire: int = Field(10, ge=0, description="most configs retired for rank per refine run")
    max_breed: int = Field(10, ge=0, description="most configs bred per refine run")


class IngestSettings(Section):
    """New bars for `factory run`: a watched drop directory (docs/operations.md, "Ingest")."""

    drop_dir: str | None = Field(
        None,
        description="directory the daemon imports dropped CSV/Parquet files from; unset = off",
    )
    settle_seconds: float = Field(
        2.0, ge=0, description="a dropped file is imported once unchanged this long"
    )


class ApiSettings(Section):
    """The HTTP API and dashboard of `factory serve`."""

    host: str = Field("127.0.0.1", description="interface to bind (127.0.0.1 = this machine only)")
    port: int = Field(8000, ge=1, le=65535)
    token: SecretStr | None = Field(
        None,
        description="bearer token for endpoints that change state; unset = those endpoints are off",
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    refresh_seconds: int = Field(30, ge=0, description="dashboard auto-refresh (0 = off)")


class Settings(BaseSettings):
    """All settings. Build with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=SECTION_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    db_url: str = Field("sqlite:///factory.db", description="SQLAlchemy URL of the database")

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if not value.strip():
            raise ValueError("is empty: give sqlite:///path or postgresql://user@host/db")
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError(
                f"{value!r} is not a database URL: give sqlite:///path or postgresql://user@host/db"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"{backend} is not supported: use sqlite or postgresql")
        return value

    artifacts: str = Field(
        "artifacts", description="artifact store: a directory (fsspec URLs later)"
    )
    artifact_retention: int = Field(
        3, ge=0, description="newest artifacts kept per config (0 = all); active configs keep all"
    )
    snapshot_retention_days: float = Field(
        7.0,
        ge=0,
        description="rating snapshots older than this are pruned (0 = keep all); promotion snapshots are kept",
    )
    cache_max_gb: float = Field(
        10.0, ge=0, description="feature cache size kept by `factory prune` (0 = no limit)"
    )
    output_dir: str = Field("out", description="where rebalance files and reports are written")
    cache_dir: str = Field(".factory-cache", description="feature cache directory")
    data: DataSettings = Field(default_factory=DataSettings)
    plan: PlanSettings = Field(default_factory=PlanSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    rating: RatingSettings = Field(default_factory=RatingSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    portfolio: PortfolioSettings = Field(default_factory=PortfolioSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    refine: RefineSettings = Field(default_factory=RefineSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not _USE_ENV.get():
            return (init_settings, _FileSource(settings_cls))
        return (init_settings, _EnvSource(settings_cls), _FileSource(settings_cls))

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with dotted-key overrides applied and validated, e.g.
        ``with_overrides(**{"scheduler.backend": "serial"})``."""
        data = self.model_dump()
        for dotted, value in overrides.items():
            if value is None:
                continue
            target = data
            *parents, leaf = dotted.split(".")
            for p in parents:
                target = target[p]
            target[leaf] = value
        try:
            return _validate_plain(data)
        except ValidationError as exc:
            raise SettingsError(_describe(exc, "command-line options")) from None


_FILE_DATA: ContextVar[Mapping[str, Any]] = ContextVar(
    "factory_settings_file", default=MappingProxyType({})
)


class _FileSource(PydanticBaseSettingsSource):
    """Feeds the parsed TOML file (held in a context variable by `load_settings`)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _FILE_DATA.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get())


def setting_variables() -> frozenset[str]:
    """The ``FACTORY_*`` variables that carry a setting, derived from the `Settings` model:
    ``FACTORY_<KEY>`` for every top-level key (a section as a JSON object, as
    pydantic-settings accepts it) and ``FACTORY_<SECTION>__<KEY>`` for every key of a
    section."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{name}".upper())
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(
                f"{ENV_PREFIX}{name}{SECTION_DELIMITER}{key}".upper()
                for key in annotation.model_fields
            )
    return frozenset(names)


def env_variables() -> frozenset[str]:
    """Every environment variable the factory reads: `setting_variables`, the
    ``..._FILE`` twin of each, and ``FACTORY_CONFIG`` (the settings file)."""
    settings = setting_variables()
    return settings | {n + FILE_SUFFIX for n in settings} | {CONFIG_ENV}


def secret_file_values(environ: Mapping[str, str]) -> dict[str, str]:
    """``{FACTORY_X: contents}`` for every ``FACTORY_X_FILE`` in ``environ`` (names
    upper-cased; the file's trailing newlines dropped, as ``$(< file)`` does in the
    official postgres image's entry point). Raises `SettingsError` naming the variable and
    the file when the file is missing, unreadable, not UTF-8 or empty, when ``FACTORY_X``
    is set too, or when ``FACTORY_X`` is not a setting (a misspelt secret variable would
    otherwise fall back to a default silently, e.g. the SQLite database)."""
    known = setting_variables()
    present = {k.upper() for k in environ}
    values: dict[str, str] = {}
    for var, path in environ.items():
        upper = var.upper()
        if not (upper.startswith(ENV_PREFIX) and upper.endswith(FILE_SUFFIX)):
            continue
        target = upper[: -len(FILE_SUFFIX)]
        if target not in known:
            close = difflib.get_close_matches(target, sorted(known), n=1)
            hint = f" (did you mean {close[0]}{FILE_SUFFIX}?)" if close else ""
            raise SettingsError(
                f"{var}={path}: {target} is not a setting, so the file has nowhere to go{hint}"
            )
        if target in present:
            raise SettingsError(
                f"both {target} and {var} are set: give the value either directly or in a file"
            )
        if not path:
            raise SettingsError(f"{var} is empty: it must name a file")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SettingsError(f"{var}: file {path} does not exist") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{var}: file {path} is not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise SettingsError(f"{var}: cannot read file {path}: {exc.strerror or exc}") from None
        value = text.rstrip("\r\n")
        if not value.strip():
            raise SettingsError(f"{var}: file {path} is empty")
        values[target] = value
    return values


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, plus ``FACTORY_X`` read from the file that
    ``FACTORY_X_FILE`` names. The merged variables go through the stock parsing, so a
    value from a file behaves exactly like the same value in the environment (JSON for
    lists and sections, ``__`` for section keys)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = dict(super()._load_env_vars())
        files = secret_file_values(os.environ)
        fold = str if self.case_sensitive else str.lower
        for target in files:
            env.pop(fold(target + FILE_SUFFIX), None)
        env.update({fold(name): value for name, value in files.items()})
        return env


# Off while validating the file alone or an already-resolved dict: pydantic-settings
# reads the environment on every construction, model_validate included.
_USE_ENV: ContextVar[bool] = ContextVar("factory_settings_use_env", default=True)


def _validate_plain(data: Mapping[str, Any]) -> Settings:
    token = _USE_ENV.set(False)
    try:
        return Settings.model_validate(data)
    finally:
        _USE_ENV.reset(token)


@contextmanager
def _file_data(data: Mapping[str, Any]) -> Iterator[None]:
    token = _FILE_DATA.set(data)
    try:
        yield
    finally:
        _FILE_DATA.reset(token)


def config_path(path: str | Path | None = None) -> Path | None:
    """The settings file in use: ``path``, else ``$FACTORY_CONFIG``, else ./factory.toml if
    present, else None."""
    if path is not None:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from defaults, the file, the environment and ``overrides`` (dotted keys,
    e.g. ``**{"scheduler.backend": "serial"}``; ``None`` values are ignored)."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file is not None:
        if not file.exists():
            raise SettingsError(
                f"settings file {file} does not exist (from {CONFIG_ENV} or --config)"
            )
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file}: invalid TOML: {exc}") from None
        except IsADirectoryError:
            raise SettingsError(f"{file} is a directory, not a settings file") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(
                f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start}); settings files "
                "are TOML in UTF-8"
            ) from None
        except OSError as exc:
            raise SettingsError(f"{file}: cannot read: {exc.strerror or exc}") from None
        # Validate the file alone first so that its errors name the file.
        try:
            _validate_plain(data)
        except ValidationError as exc:
            raise SettingsError(_describe(exc, str(file))) from None
    try:
        with _file_data(data):
            settings = Settings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc, _environment_label())) from None
    dotted = {k: v for k, v in overrides.items() if v is not None}
    return settings.with_overrides(**dotted) if dotted else settings


def _environment_label() -> str:
    files = sorted(
        k.upper()
        for k in os.environ
        if k.upper().startswith(ENV_PREFIX) and k.upper().endswith(FILE_SUFFIX)
    )
    if not files:
        return "FACTORY_* environment variables"
    return f"FACTORY_* environment variables (or the files named by {', '.join(files)})"


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid settings in {source}:"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = f"[{'.'.join(loc[:-1])}] {loc[-1]}" if len(loc) > 1 else (loc[0] if loc else "?")
        if err["type"] == "extra_forbidden":
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            lines.append(f"  unknown key {where}{hint}")
        else:
            lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _known_keys(section: list[str]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in section:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def default_toml() -> str:
    """The annotated ``factory.toml`` that ``factory init`` writes (all defaults)."""
    s = Settings.model_construct()
    lines = [
        "# Model Factory settings. Every key is optional: the defaults below are built in.",
        "# Environment variables override this file: FACTORY_DB_URL, FACTORY_EVALUATION__COST_BPS, ...",
        "",
    ]
    sections: list[tuple[str, BaseModel]] = []
    for name, field in Settings.model_fields.items():
        value = getattr(s, name, field.default)
        if isinstance(value, BaseModel):
            sections.append((name, value))
            continue
        if field.description:
            lines.append(f"# {field.description}")
        lines.append(f"{name} = {_toml_value(value)}")
    for name, model in sections:
        lines.append("")
        doc = (type(model).__doc__ or "").strip().split("\n")[0]
        lines.append(f"[{name}]  # {doc}")
        for key, field in type(model).model_fields.items():
            value = getattr(model, key)
            comment = f"  # {field.description}" if field.description else ""
            if value is None:
                lines.append(f"# {key} = ...{comment}")
            else:
                lines.append(f"{key} = {_toml_value(value)}{comment}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)
