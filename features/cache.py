"""An on-disk cache of feature frames, shared by every process that sees the directory.

A pipeline's output depends on exactly three things: the bars it reads, its code and its
version. The cache key is a sha256 over all three:

* `panel_fingerprint` of the columns the pipeline reads (`FeatureSet.reads`: required and
  optional columns present in the panel), including the timestamps and asset names;
* the pipeline's name and ``version``, plus a hash of the source of the module that
  defines it and of this package's shared helpers (so editing a formula without bumping
  the version cannot serve stale features; code without a source file is hashed by its
  compiled code), and the versions of numpy, pandas, scipy and TA-Lib (an upgrade may
  change the numbers);
* the cache format.

Configs that share a (pipeline, data version) therefore share one file, across processes
and Ray workers on the same file system. Files are ``<key>.<dtype>.npz`` holding ``values``
(``T x N x F``, float64 or float32), ``names``, ``assets`` and ``timestamps`` (int64 ns). Writes go to a
temporary file in the same directory followed by ``os.replace``, which is atomic: a reader
sees the old file, no file, or the whole new file, and two processes computing the same key
at once both succeed (the last rename wins; the contents are identical). An unreadable file
is recomputed and replaced. Each data version gets new files (the key changes with
every new bar), so the owner of the directory should call `FeatureCache.prune` now and
then (least recently used first).

Frames returned by the cache have read-only ``values``: the same frame may back several
configs, so nobody may modify it in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from features.frame import FeatureFrame, Panel
from features.registry import FeatureSet

FORMAT = "model-factory-features/1"
_HELPERS = ("features.frame", "features.bar_clock", "features.rolling", "features.talib_util")
# The names `prune` may delete: frames and temporary files of this cache (sha256 keys).
_FRAME_NAME = re.compile(r"[0-9a-f]{64}\.[a-z0-9]+\.npz")
_TEMP_NAME = re.compile(r"\.[0-9a-f]{64}\..+\.tmp")


def panel_fingerprint(panel: Panel, columns: Iterable[str]) -> str:
    """sha256 over the panel's timestamps, assets and the values of ``columns``.

    Values are hashed as float64 bytes with every NaN canonicalised, so two panels with
    the same numbers have the same fingerprint however they were built.
    """
    h = hashlib.sha256()
    index = pd.DatetimeIndex(panel.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    h.update(b"timestamps")
    h.update(np.ascontiguousarray(index.as_unit("ns").asi8).tobytes())
    h.update(b"assets")
    h.update("\x1f".join(panel.assets).encode())
    for column in sorted(set(columns)):
        values = panel[column].to_numpy(dtype=np.float64)
        values = np.where(np.isnan(values), np.nan, values)
        h.update(b"\x1e" + column.encode() + b"\x1f")
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


# Libraries whose numerics the pipelines' output depends on: an upgrade changes the key.
_LIBRARIES = ("numpy", "pandas", "scipy", "talib")


@cache
def _module_source_hash(module_name: str) -> str:
    try:
        source = inspect.getsource(importlib.import_module(module_name))
    except (OSError, TypeError, ImportError, ValueError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()


def _code_object_hash(func: object) -> str:
    """Hash of a function's compiled code (name, bytecode, constants, names), for code
    without a source file (defined in a notebook or an interpreter session)."""
    code = getattr(func, "__code__", None)
    if code is None:
        raise ValueError(
            f"cannot fingerprint {func!r}: no source file and no code object; "
            "the feature cache cannot tell when it changes"
        )
    parts = [code.co_name, code.co_code.hex(), repr(code.co_consts), repr(code.co_names)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@cache
def library_versions() -> str:
    """``name=version`` of every library in `_LIBRARIES` (missing ones as ``name=-``)."""
    out = []
    for name in _LIBRARIES:
        try:
            version = str(getattr(importlib.import_module(name), "__version__", "?"))
        except ImportError:
            version = "-"
        out.append(f"{name}={version}")
    return ",".join(out)


def code_fingerprint(feature_set: FeatureSet) -> str:
    """Hash of the source of the module defining the pipeline, of the shared helpers and
    of the versions of the libraries that compute features. A pipeline without a source
    file is fingerprinted by its compiled code instead."""
    module = getattr(feature_set.compute, "__module__", "") or ""
    parts = []
    for m in (module, *_HELPERS):
        digest = _module_source_hash(m)
        if not digest:
            if m != module:
                raise RuntimeError(f"the source of {m} is missing; reinstall the package")
            digest = _code_object_hash(feature_set.compute)
        parts.append(f"{m}={digest}")
    parts.append(library_versions())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def cache_key(feature_set: FeatureSet, panel: Panel) -> str:
    """The cache key of ``feature_set`` computed on ``panel``."""
    h = hashlib.sha256()
    for part in (
        FORMAT,
        feature_set.name,
        str(feature_set.version),
        code_fingerprint(feature_set),
        panel_fingerprint(panel, feature_set.reads(panel.columns)),
    ):
        h.update(part.encode() + b"\x00")
    return h.hexdigest()


class FeatureCache:
    """Feature frames on disk under ``directory``, keyed by `cache_key`.

    ``dtype`` is the precision stored and returned (float64 by default, exact; float32
    halves disk and memory and is what the evaluation engine feeds models anyway). A frame
    computed on a miss is cast the same way, so a hit and a miss return identical values.
    """

    def __init__(self, directory: Path | str, *, dtype: type = np.float64) -> None:
        self.directory = Path(directory)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError("dtype must be float32 or float64")

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.{self.dtype.name}.npz"

    def get_or_compute(self, feature_set: FeatureSet, panel: Panel) -> FeatureFrame:
        """The frame from the cache if this (pipeline, bars) was computed before by any
        process, else computed now and stored."""
        key = cache_key(feature_set, panel)
        frame = self._load(key, panel)
        if frame is None:
            computed = feature_set(panel)
            frame = FeatureFrame(
                values=computed.values.astype(self.dtype, copy=False),
                timestamps=computed.timestamps,
                assets=computed.assets,
                names=computed.names,
            )
            self._store(key, frame)
        frame.values.flags.writeable = False
        return frame

    def contains(self, feature_set: FeatureSet, panel: Panel) -> bool:
        return self.path(cache_key(feature_set, panel)).exists()

    def prune(self, max_bytes: int, *, stale_temp_seconds: float = 3600.0) -> list[Path]:
        """Delete the least recently used frames until the cache holds at most
        ``max_bytes``, and temporary files older than ``stale_temp_seconds`` (left by a
        crashed writer). Every hit refreshes a file's modification time. Returns the
        deleted paths. Safe to run while other processes use the cache: a reader that
        loses a file recomputes it."""
        if not self.directory.exists():
            return []
        deleted: list[Path] = []
        now = time.time()
        # Only files this cache writes (sha256 key names): a `cache_dir` that also holds
        # other files (e.g. set to ".") never loses them.
        for tmp in self.directory.glob(".*.tmp"):
            if not _TEMP_NAME.fullmatch(tmp.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - tmp.stat().st_mtime > stale_temp_seconds:
                    tmp.unlink()
                    deleted.append(tmp)
        files = []
        for path in self.directory.glob("*.npz"):
            if not _FRAME_NAME.fullmatch(path.name) or not path.is_file() or path.is_symlink():
                continue
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted.append(path)
            total -= size
        return deleted

    def _load(self, key: str, panel: Panel) -> FeatureFrame | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                values = data["values"]
                names = tuple(str(n) for n in data["names"])
                assets = tuple(str(a) for a in data["assets"])
                stamps = data["timestamps"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return None  # unreadable or just pruned: recompute and overwrite
        with contextlib.suppress(OSError):
            os.utime(path)  # mark as recently used for `prune`
        index = panel.index
        expected = np.asarray(pd.DatetimeIndex(index).as_unit("ns").asi8)
        if assets != panel.assets or not np.array_equal(stamps, expected):
            return None
        values = values.astype(self.dtype, copy=False)
        return FeatureFrame(values=values, timestamps=index, assets=assets, names=names)

    def _store(self, key: str, frame: FeatureFrame) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    values=np.ascontiguousarray(frame.values, dtype=self.dtype),
                    names=np.array(frame.names, dtype=str),
                    assets=np.array(frame.assets, dtype=str),
                    timestamps=np.asarray(pd.DatetimeIndex(frame.timestamps).as_unit("ns").asi8),
                )
                f.flush()
                os.fsync(f.fileno())
            _default_mode(tmp)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _default_mode(path: str) -> None:
    """mkstemp creates files 0600; give them the mode an ordinary file would get (other
    processes and users sharing the cache must read them)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
