"""The MQTT client settings every CounterWatch client uses (edge publisher, dashboard ingest, the rigs):
one convention for the password (a :class:`SecretStr`, never printed), TLS (``tls: {ca, cert, key}``, off
when absent) and the keepalive (``keepalive_s``, seconds).

Spellings from before the convention was shared are still read, so existing files and variables keep
working: the edge's ``keepalive`` and the dashboard's ``tls: true`` + ``tls_cafile`` (``CW_DASHBOARD_MQTT__TLS``,
``CW_DASHBOARD_MQTT__TLS_CAFILE``)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, SecretStr, model_validator

from common.config import StrictModel

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


# Seconds between pings when idle; Mosquitto's bridge refuses less than 5.
Keepalive = Annotated[int, Field(ge=5, le=3600)]
_FLAGS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


class MqttTls(StrictModel):
    """TLS to the broker; the broker's certificate is always verified."""

    ca: Path | None = Field(default=None, description="CA of the broker's certificate; none = the system's")
    cert: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key: Path | None = Field(default=None, description="its private key")

    @model_validator(mode="after")
    def _cert_and_key(self) -> MqttTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together: set both or neither")
        return self


class MqttClientSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: MqttTls | None = Field(default=None, description="absent: plain TCP")
    keepalive_s: Keepalive = 30
    client_id: str | None = Field(default=None, description="stable id for the persistent session")

    @model_validator(mode="before")
    @classmethod
    def _older_spellings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "keepalive" in data:  # the edge's spelling
            if "keepalive_s" in data:
                raise ValueError("keepalive and keepalive_s are the same setting: give only keepalive_s")
            data["keepalive_s"] = data.pop("keepalive")
        # The dashboard's spelling: ``tls: true`` (+ ``tls_cafile``) for ``tls: {ca: ...}``.
        tls = data.get("tls")
        if isinstance(tls, bool) or (isinstance(tls, str) and tls.lower() in _FLAGS):
            tls = {} if tls is True or (isinstance(tls, str) and _FLAGS[tls.lower()]) else None
            data["tls"] = tls
        cafile = data.pop("tls_cafile", None)
        if cafile is not None and isinstance(tls, dict) and tls.get("ca") is None:
            data["tls"] = {**tls, "ca": cafile}  # (without tls on, tls_cafile was ignored; it still is)
        return data

    def password_text(self) -> str | None:
        return self.password.get_secret_value() if self.password is not None else None

    def configure(self, client: mqtt.Client, default_username: str | None = None) -> None:
        """Credentials and TLS on a paho client (before its first connect)."""
        client.username_pw_set(self.username or default_username, self.password_text())
        if self.tls is not None:
            client.tls_set(
                ca_certs=str(self.tls.ca) if self.tls.ca else None,
                certfile=str(self.tls.cert) if self.tls.cert else None,
                keyfile=str(self.tls.key) if self.tls.key else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
