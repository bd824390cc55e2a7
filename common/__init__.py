"""The floor every CounterWatch package stands on: settings loading (YAML file + ``CW_`` environment),
:class:`~common.config.ConfigError`, the version and logging setup.

It imports nothing from edge/, broker/, dashboard/, models/, counterwatch/ or rigs/ (tests/test_layering.py
enforces it), so any of them may import it.

    config.py    ServiceSettings, StrictModel, load_settings, ConfigError
    version.py   __version__ (reported by the CLI, the dashboard API and every edge heartbeat)
    logs.py      setup_logging(): the one log format of every process
"""

from common.version import __version__

__all__ = ["__version__"]
