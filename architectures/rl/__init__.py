"""Reinforcement-learning architectures (stable-baselines3) and their trading environment."""
