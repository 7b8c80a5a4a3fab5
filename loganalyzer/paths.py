"""Where the package finds its data files.

An installed wheel carries the pattern library as ``loganalyzer/_patterns`` (see
``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml); a source checkout uses the
repository's top-level ``patterns/`` folder.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def patterns_dir() -> Path:
    """The folder holding ``causes.toml``, ``rules.toml`` and the pattern files."""
    installed = _PACKAGE_DIR / "_patterns"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "patterns"
