"""CounterWatch: on-duty monitoring for public service halls. This package is the ``counterwatch`` command
(and ``up``); the version lives in :mod:`common` and is re-exported here."""

from common import __version__

__all__ = ["__version__"]
