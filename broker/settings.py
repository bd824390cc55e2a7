from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from counterwatch.config import ServiceSettings


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
