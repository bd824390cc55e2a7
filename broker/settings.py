from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from broker.client_settings import Keepalive, MqttTls
from common.config import ServiceSettings, StrictModel


class BridgeSettings(StrictModel):
    """A hall broker's bridge into the central broker (``broker/bridge.py``, ``docs/scale-out.md``). TLS and
    keepalive as for every MQTT client (broker/client_settings.py); the older flat ``cafile``, ``certfile``,
    ``keyfile`` (``CW_BROKER_BRIDGE__CAFILE``) are still read."""

    site: str
    addresses: list[str] = Field(min_length=1, description="central host:port, in fail-over order")
    username: str = Field(description="a 'bridge' identity of this site on the central broker")
    password: SecretStr
    tls: MqttTls | None = Field(default=None, description="TLS to central; tls.ca is the central broker's CA")
    keepalive_s: Keepalive = 30

    @model_validator(mode="before")
    @classmethod
    def _flat_tls_files(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not {"cafile", "certfile", "keyfile"} & data.keys():
            return data
        data = dict(data)
        flat = {new: data.pop(old) for old, new in (("cafile", "ca"), ("certfile", "cert"), ("keyfile", "key"))
                if old in data}
        if isinstance(data.get("tls"), dict):
            raise ValueError("give the bridge's TLS files either as tls: {ca, cert, key} or as cafile/certfile/keyfile")
        if flat.get("ca") is not None:  # before, the files without a CA meant no TLS
            data["tls"] = flat
        return data

    @model_validator(mode="after")
    def _tls_needs_the_central_ca(self) -> BridgeSettings:
        if self.tls is not None and self.tls.ca is None:
            raise ValueError("a bridge over TLS needs tls.ca, the central broker's CA (Mosquitto has no default)")
        return self


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
