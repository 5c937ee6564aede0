"""Econometric architectures (statsmodels), fitted per asset on the return series."""
