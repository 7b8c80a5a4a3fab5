"""loganalyzer: name the documented cause of Azure Linux VM agent and backup-extension failures.

    >>> import loganalyzer
    >>> report = loganalyzer.analyze("samples/no-internet-access.zip")
    >>> report.findings[0].cause
    'no-internet-access'
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["analyze", "batch", "__version__"]


def analyze(path, **options):
    """Analyse one bundle (zip, tar.gz, folder or bare log file) and return a Report."""
    from .analyzer import analyze as _analyze
    return _analyze(path, **options)



def batch(paths, **options):
    """Analyse many bundles, each in its own worker process; returns a Fleet of DataFrames."""
    from .fleet import batch as _batch
    return _batch(paths, **options)
