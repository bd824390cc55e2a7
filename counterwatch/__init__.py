"""CounterWatch: on-duty monitoring for public service halls."""

__version__ = "0.1.0"
