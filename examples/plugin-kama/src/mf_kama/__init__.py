"""Kaufman adaptive moving average trend model: an example Model Factory plugin."""
