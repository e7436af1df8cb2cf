"""Drishya: replace a product in an advertising photo, as one HTTP function."""

__version__ = "0.1.0"
