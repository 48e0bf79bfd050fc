"""The package version, kept apart so the build can read it without importing the package."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.2.0"
