"""One settings object per service, read from a YAML file plus ``CW_``-prefixed environment variables.

Environment wins over the file (so a deployment can override one value without copying the file); nested
fields use ``__`` (``CW_MQTT__PORT=1884``). Invalid config fails at start with the field named, and so does
an unknown key at any depth (``mqtt.hots: Extra inputs are not permitted``): every settings model derives
from :class:`ServiceSettings` or :class:`StrictModel`, which forbid extras.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

S = TypeVar("S", bound="ServiceSettings")


class ConfigError(SystemExit):
    """Raised for unusable configuration; exits the CLI with a readable message, not a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")
        self.message = message


class StrictModel(BaseModel):
    """Base of every nested settings section: a misspelt key is an error, not a silently ignored value."""

    model_config = ConfigDict(extra="forbid")


class ServiceSettings(BaseSettings):
    """Base for every service's settings. Subclasses set ``env_prefix`` like ``CW_EDGE_``."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="forbid", validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # env over file-supplied init values: explicit CW_ variables always take effect.
        return env_settings, init_settings


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def format_validation_error(exc: ValidationError, source: str) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        problems.append(f"  {where}: {err['msg']}")
    return f"{source} has {exc.error_count()} invalid field(s):\n" + "\n".join(problems)


def load_settings(cls: type[S], path: Path | str | None = None, **overrides: Any) -> S:
    """Build ``cls`` from ``path`` (or ``$CW_CONFIG``), the environment and explicit overrides."""
    path = path or os.environ.get("CW_CONFIG")
    data: dict[str, Any] = read_yaml(Path(path)) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return cls(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path or "settings"))) from None
