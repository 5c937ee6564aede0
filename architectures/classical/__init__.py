"""Classical machine-learning architectures (gradient boosting on flattened windows)."""
