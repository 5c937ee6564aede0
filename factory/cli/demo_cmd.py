"""``factory demo``: the whole loop on the embedded real data, in one command.

init -> import the S&P 500 / NASDAQ sample (arch.data; ``--sample sp500-20`` for the 20
large caps, closes only: much slower, see docs/user-guide.md 2.12) -> attach synthetic sentiment and
on-chain series so that all eight pipelines run -> expand a demo plan (one config per
architecture: its first param combination, lookback 30 or 14) -> evaluate on Ray -> rate ->
promote -> rebalance -> leaderboard -> report (out/report.html, with the historical
simulation). Everything lands in one directory it prints.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from factory.cli.output import console

DEMO_SETTINGS = """\
# Settings of `factory demo` (re-use them: factory --config {toml} leaderboard)
db_url = "sqlite:///{dir}/factory.db"
artifacts = "{dir}/artifacts"
output_dir = "{dir}/out"
cache_dir = "{dir}/cache"

[plan]
lookbacks = [30, 14]    # 30 bars where an architecture allows it, else 14
max_grid = 1            # one param combination per architecture
# One config per architecture (the production plan expands to 486):
family_budgets = {{ classical = 9, deep = 8, econometric = 5, rl = 3 }}
# Smaller deep / RL budgets than the production defaults, to stay within minutes:
grids = {{ lstm = {{ hidden_size = [16], epochs = [3] }}, ppo = {{ total_timesteps = [5000] }} }}

[evaluation]
min_train = 1008        # four years of daily bars before the first prediction
retrain_every = 504     # refit every two years (production default: quarterly)
cost_bps = 5.0

[scheduler]
backend = "{backend}"
workers = {workers}
"""


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", help="where the demo database and outputs go")
    ] = Path("demo-output"),
    backend: Annotated[str, typer.Option(help="ray or serial")] = "ray",
    workers: Annotated[int, typer.Option(min=1)] = 2,
    sample: Annotated[
        str,
        typer.Option(
            help="the embedded sample to run on: arch (S&P 500 + NASDAQ daily OHLCV) or "
            "sp500-20 (20 large caps, closes only)"
        ),
    ] = "arch",
) -> None:
    """Run the whole factory loop on the embedded real data (about 2-5 minutes on 2 cores
    with the default arch sample; sp500-20 takes far longer)."""
    from factory import catalog
    from factory.cli import data_cmd, pipeline_cmd
    from factory.data.importer import import_sample
    from factory.data.sample import SAMPLES, get_sample
    from factory.settings import load_settings
    from factory.storage.bars import load_market_data

    if sample not in SAMPLES:
        raise typer.BadParameter(f"--sample must be one of {', '.join(SAMPLES)}")
    chosen = get_sample(sample)
    started = time.perf_counter()
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    toml = directory / "factory.toml"
    toml.write_text(
        DEMO_SETTINGS.format(dir=directory, toml=toml, backend=backend, workers=workers)
    )
    ctx.find_root().obj = {"config": toml, "db": None}
    from factory.app import App

    a = App(load_settings(toml))

    def step(title: str) -> None:
        console.rule(f"{title}  ({time.perf_counter() - started:.0f} s)")

    step(f"1. data: the embedded sample {chosen.name!r}: {chosen.description}")
    res = import_sample(a.db, chosen, at=a.now())
    console.print(f"{res.rows_in} bars for {', '.join(res.assets)} ({res.rows_added} new)")
    if chosen.close_only:
        console.print(
            "closes only: no open/high/low/volume is stored or invented; the plan excludes "
            "the pipelines that need them (see step 2)"
        )
    source, aux = data_cmd.attach_synthetic_aux(a, seed=0, extras=("sentiment", "onchain"))
    console.print(
        f"{source}: {sum(r.rows_added for r in aux)} new values. They are synthetic "
        "(no real sentiment or on-chain data ships with the project); configs built on them should not rate well."
    )

    step("2. plan")
    data = load_market_data(a.db)
    exp = catalog.plan(a.settings, catalog.profile(data))
    console.print(f"{exp.candidates} candidates -> {len(exp.configs)} configs")
    for e in exp.exclusions:
        console.print(f"  - {e.count} excluded ({e.rule}): {e.reason}")

    step(f"3. walk-forward evaluation on {backend} ({workers} workers)")
    ctx.invoke(pipeline_cmd.evaluate, ctx=ctx, backend=backend, workers=workers)
    step("4. rate")
    ctx.invoke(pipeline_cmd.rate, ctx=ctx)
    step("5. promote")
    ctx.invoke(pipeline_cmd.promote, ctx=ctx)
    step("6. rebalance")
    ctx.invoke(pipeline_cmd.rebalance, ctx=ctx)
    step("7. leaderboard")
    ctx.invoke(pipeline_cmd.leaderboard, ctx=ctx, top=30)
    step("8. report: the historical simulation, curves, promotions, model cards")
    from factory.review.report import write_report

    report = write_report(a, Path(a.settings.output_dir) / "report.html")
    console.rule(f"done in {time.perf_counter() - started:.0f} s")
    console.print(f"sample:     {chosen.name} ({chosen.source})")
    console.print(f"database:   {a.db.describe()}")
    console.print(f"artifacts:  {a.settings.artifacts}")
    console.print(f"outputs:    {a.settings.output_dir}")
    console.print(f"settings:   {toml}")
    console.print(f"report:     {report}")
    exe = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "factory" else "factory"
    console.print(f"next:       {exe} --config {toml} leaderboard --format json")
