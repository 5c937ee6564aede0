"""The on-disk feature cache: hits, keys, atomic writes, concurrent writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import FeatureFrame, Panel, get_feature_set
from features.bar_clock import BarClock, feature_frame
from features.cache import FeatureCache, cache_key, panel_fingerprint
from features.registry import FeatureSet
from tests.features.helpers import dense_panel

CALLS: list[int] = []


def _counted(panel: Panel) -> FeatureFrame:
    CALLS.append(1)
    close = panel["close"].to_numpy()
    return feature_frame({"twice": 2.0 * close}, panel, BarClock.of(panel), compact=False)


# Not registered: the cache takes the FeatureSet itself, and the registry stays clean.
COUNTED = FeatureSet("test_counted", _counted, frozenset({"close"}), version=1)

PANEL = dense_panel(n_bars=60, n_assets=3)


def _with_one_bar_changed(panel: Panel, column: str) -> Panel:
    fields = dict(panel.fields)
    values = panel[column].to_numpy(copy=True)
    values[30, 1] *= 1.0001
    fields[column] = pd.DataFrame(values, index=panel.index, columns=panel[column].columns)
    return Panel(fields)


def test_second_call_is_a_cache_hit(tmp_path: Path) -> None:
    CALLS.clear()
    cache = FeatureCache(tmp_path)
    first = cache.get_or_compute(COUNTED, PANEL)
    second = FeatureCache(tmp_path).get_or_compute(COUNTED, PANEL)  # a fresh instance: disk
    assert len(CALLS) == 1
    np.testing.assert_array_equal(first.values, second.values)
    assert second.names == first.names and second.assets == first.assets
    assert second.timestamps.equals(PANEL.index)
    assert not second.values.flags.writeable
    assert [p.suffix for p in tmp_path.iterdir()] == [".npz"]  # no temporary file left


def test_changing_one_bar_that_is_read_changes_the_key(tmp_path: Path) -> None:
    key = cache_key(COUNTED, PANEL)
    assert cache_key(COUNTED, _with_one_bar_changed(PANEL, "close")) != key
    # a column the pipeline does not read leaves the key alone
    assert cache_key(COUNTED, _with_one_bar_changed(PANEL, "volume")) == key
    CALLS.clear()
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(COUNTED, PANEL)
    cache.get_or_compute(COUNTED, _with_one_bar_changed(PANEL, "close"))
    assert len(CALLS) == 2


def test_key_covers_version_timestamps_assets_and_optional_columns() -> None:
    key = cache_key(COUNTED, PANEL)
    bumped = FeatureSet("test_counted", _counted, frozenset({"close"}), version=2)
    assert cache_key(bumped, PANEL) != key
    shifted = Panel(
        {k: v.set_axis(v.index + np.timedelta64(1, "D")) for k, v in PANEL.fields.items()}
    )
    assert cache_key(COUNTED, shifted) != key
    renamed = Panel({k: v.set_axis(["X", "Y", "Z"], axis=1) for k, v in PANEL.fields.items()})
    assert cache_key(COUNTED, renamed) != key
    orderflow = get_feature_set("orderflow")
    assert cache_key(orderflow, _with_one_bar_changed(PANEL, "bid_size")) != cache_key(
        orderflow, PANEL
    )


def test_fingerprint_canonicalises_nan_payloads() -> None:
    a = PANEL["close"].to_numpy().copy()
    a[0, 0] = np.nan
    b = a.copy()
    b.view(np.uint64)[0, 0] = 0x7FF8_0000_0000_0001  # another NaN bit pattern
    frame = PANEL["close"]
    pa = Panel({"close": pd.DataFrame(a, index=frame.index, columns=frame.columns)})
    pb = Panel({"close": pd.DataFrame(b, index=frame.index, columns=frame.columns)})
    stored = pb["close"].to_numpy(dtype=np.float64)
    assert stored.view(np.uint64)[0, 0] == 0x7FF8_0000_0000_0001  # the payload reached the panel
    assert panel_fingerprint(pa, ["close"]) == panel_fingerprint(pb, ["close"])


def test_unreadable_file_is_recomputed(tmp_path: Path) -> None:
    CALLS.clear()
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(COUNTED, PANEL)
    cache.path(cache_key(COUNTED, PANEL)).write_bytes(b"not a zip file")
    frame = cache.get_or_compute(COUNTED, PANEL)
    assert len(CALLS) == 2
    np.testing.assert_array_equal(frame.values[:, :, 0], 2.0 * PANEL["close"].to_numpy())
    assert FeatureCache(tmp_path).get_or_compute(COUNTED, PANEL) is not None and len(CALLS) == 2


def test_real_pipeline_round_trips_exactly(tmp_path: Path) -> None:
    fs = get_feature_set("technical")
    direct = fs(PANEL)
    cached = FeatureCache(tmp_path).get_or_compute(fs, PANEL)
    loaded = FeatureCache(tmp_path).get_or_compute(fs, PANEL)
    for frame in (cached, loaded):
        np.testing.assert_array_equal(frame.values, direct.values)
        assert frame.names == direct.names


def _compute_in_child(directory: str, queue: multiprocessing.Queue) -> None:
    frame = FeatureCache(Path(directory)).get_or_compute(get_feature_set("volatility"), PANEL)
    queue.put(float(np.nansum(frame.values)))


def test_concurrent_processes_computing_the_same_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_compute_in_child, args=(str(tmp_path), queue)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert all(w.exitcode == 0 for w in workers)
    sums = [queue.get(timeout=5) for _ in workers]
    expected = float(np.nansum(get_feature_set("volatility")(PANEL).values))
    assert sums == [pytest.approx(expected)] * 3
    files = list(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".npz"]
    loaded = FeatureCache(tmp_path).get_or_compute(get_feature_set("volatility"), PANEL)
    assert float(np.nansum(loaded.values)) == pytest.approx(expected)


def test_float32_cache_returns_the_same_values_on_a_miss_and_a_hit(tmp_path: Path) -> None:
    fs = get_feature_set("momentum")
    cache = FeatureCache(tmp_path, dtype=np.float32)
    miss = cache.get_or_compute(fs, PANEL)
    hit = cache.get_or_compute(fs, PANEL)
    assert miss.values.dtype == hit.values.dtype == np.float32
    np.testing.assert_array_equal(miss.values, hit.values)
    np.testing.assert_array_equal(miss.values, fs(PANEL).values.astype(np.float32))
    # a float64 cache in the same directory keeps its own files
    exact = FeatureCache(tmp_path).get_or_compute(fs, PANEL)
    assert exact.values.dtype == np.float64
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_prune_deletes_least_recently_used_files_first(tmp_path: Path) -> None:
    import os
    import time

    cache = FeatureCache(tmp_path)
    panels = [dense_panel(n_bars=40, n_assets=2, seed=s) for s in (1, 2, 3)]
    for i, panel in enumerate(panels):
        cache.get_or_compute(COUNTED, panel)
        path = cache.path(cache_key(COUNTED, panel))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    cache.get_or_compute(COUNTED, panels[0])  # a hit makes the oldest file the newest
    stale = tmp_path / f".{'a' * 64}.k3j2x9.tmp"  # as mkstemp names it
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    size = cache.path(cache_key(COUNTED, panels[0])).stat().st_size
    deleted = cache.prune(max_bytes=2 * size)
    assert set(deleted) == {stale, cache.path(cache_key(COUNTED, panels[1]))}
    assert cache.contains(COUNTED, panels[0]) and cache.contains(COUNTED, panels[2])
    assert cache.prune(max_bytes=0) and not list(tmp_path.glob("*.npz"))


def test_prune_deletes_only_the_files_of_the_cache(tmp_path: Path) -> None:
    """`cache_dir` pointed at a directory that holds other files (".", a data folder):
    prune must not take someone's ``results.npz`` or ``.draft.tmp`` for cache files."""
    import os
    import time

    cache = FeatureCache(tmp_path)
    cache.get_or_compute(COUNTED, PANEL)
    theirs = [tmp_path / "results.npz", tmp_path / ".draft.tmp", tmp_path / "UPPER.float32.npz"]
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.npz"
    outside.write_bytes(b"x" * 10)
    link = tmp_path / f"{'b' * 64}.float64.npz"
    link.symlink_to(outside)
    for path in theirs:
        path.write_bytes(b"x" * 10)
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    deleted = cache.prune(max_bytes=0)
    assert deleted == [cache.path(cache_key(COUNTED, PANEL))]
    assert all(p.exists() for p in theirs) and outside.exists() and link.is_symlink()


def test_key_changes_with_the_libraries_that_compute_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import features.cache as cache_module

    before = cache_key(COUNTED, PANEL)
    monkeypatch.setattr(cache_module, "library_versions", lambda: "numpy=0,pandas=0")
    assert cache_key(COUNTED, PANEL) != before


def test_code_without_a_source_file_is_still_fingerprinted() -> None:
    """A pipeline defined in a notebook (no source file) gets a key from its compiled
    code: editing it changes the key instead of serving stale features."""
    namespace: dict[str, object] = {}
    exec("def nb(panel):\n    return panel['close'] * 2\n", namespace)
    first = FeatureSet("nb_pipeline", namespace["nb"], frozenset({"close"}))  # type: ignore[arg-type]
    exec("def nb(panel):\n    return panel['close'] * 3\n", namespace)
    second = FeatureSet("nb_pipeline", namespace["nb"], frozenset({"close"}))  # type: ignore[arg-type]
    assert cache_key(first, PANEL) != cache_key(second, PANEL)
