"""Reinforcement-learning agents (stable-baselines3) on the trading environment in `env`."""

# Shared code, not architectures: the registry does not import these on listing.
HELPER_MODULES = ("env",)
