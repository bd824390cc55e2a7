from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from common.config import ServiceSettings


class BridgeSettings(BaseModel):
    """A hall broker's bridge into the central broker (``broker/bridge.py``, ``docs/scale-out.md``)."""

    model_config = ConfigDict(extra="forbid")

    site: str
    addresses: list[str] = Field(min_length=1, description="central host:port, in fail-over order")
    username: str = Field(description="a 'bridge' identity of this site on the central broker")
    password: SecretStr
    cafile: Path | None = Field(default=None, description="central broker's CA: bridge over TLS")
    certfile: Path | None = None
    keyfile: Path | None = None


class BrokerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CW_BROKER_")

    engine: Literal["auto", "mosquitto", "embedded"] = "auto"
    data_dir: Path = Path("var/broker")
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    max_queued_messages: int = Field(1_000_000, ge=1000)
    tls_cafile: Path | None = None
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    tls_port: int = Field(8883, ge=1, le=65535)
    tls_require_certificate: bool = Field(False, description="mutual TLS: clients need a cert of our CA")
    plain_listener: bool = Field(True, description="false: TLS only (needs the tls_* files)")
    bridge: BridgeSettings | None = None
