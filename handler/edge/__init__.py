"""The HTTP edge: routing, the password, admission, bounded body reading, responses."""
from .function import Function, create_handler

__all__ = ["Function", "create_handler"]
