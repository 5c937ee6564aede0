"""Tests of the `features` package."""
