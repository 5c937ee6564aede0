"""Econometric architectures on the assets' return series: ARMA (statsmodels), AR-GARCH
and GJR-GARCH (arch) and Holt's exponential smoothing (statsmodels), fitted per asset, and
a VAR across all assets (statsmodels, panel input). Modules starting with ``_`` hold
shared code (`_series` rebuilds the series behind the training windows, gaps marked)."""
