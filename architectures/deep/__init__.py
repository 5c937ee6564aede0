"""Deep-learning architectures (torch), imported lazily inside their methods."""
