"""The software version, in one place (the edge reports it in heartbeats, the dashboard in its API)."""

__version__ = "0.1.0"
