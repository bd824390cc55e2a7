"""Hall-to-central bridging: each hall runs its own Mosquitto, bridged to the central broker.

Edge devices publish to the broker in their hall, on the LAN. That broker forwards everything of its site
to the central broker over a persistent (``cleansession false``) QoS 1 bridge and brings back the model
commands for its devices. Through a WAN outage the hall keeps working: devices stay connected, and the
hall broker queues the bridge's messages (up to ``max_queued_messages``) and delivers them when the link
is back, so the central dashboard catches up with nothing lost.

On the central broker the bridge logs in with a ``bridge`` identity of its site (``Role.BRIDGE``), which
may publish only under ``cw/v1/{site}/#`` and read only its site's model commands: a compromised hall
cannot speak for another one. :func:`render_bridge` returns the lines to append to the hall's rendered
config (``BrokerConfig.extra``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.topics import PREFIX, check_segment, command_filter


@dataclass(frozen=True)
class BridgeTls:
    """TLS towards the central broker: its CA, and this hall's client certificate when mutual TLS is on."""

    cafile: Path
    certfile: Path | None = None
    keyfile: Path | None = None

    def __post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("a bridge client certificate needs both certfile and keyfile")


@dataclass(frozen=True)
class Bridge:
    """One hall's bridge into the central broker."""

    site: str
    # host:port of the central broker; more than one = fail over in order (an EMQX cluster's nodes).
    addresses: Sequence[str]
    remote_username: str
    remote_password: str
    tls: BridgeTls | None = None
    # Decorrelated-jitter reconnect backoff (seconds): first retry after ``base``, never waiting over ``cap``.
    restart_base_s: int = 5
    restart_cap_s: int = 30
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        check_segment(self.site, "site")
        if not self.addresses:
            raise ValueError("a bridge needs the central broker's address")
        for address in self.addresses:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bridge address {address!r} must be host:port")
        if not 1 <= self.restart_base_s <= self.restart_cap_s:
            raise ValueError("restart backoff needs 1 <= base <= cap")
        if self.keepalive_s < 5:
            raise ValueError("Mosquitto's minimum bridge keepalive is 5 s")

    @property
    def name(self) -> str:
        return f"{self.site}-to-central"

    @property
    def remote_clientid(self) -> str:
        # Fixed, so the central broker finds the bridge's persistent session (and its queue) on reconnect.
        return f"bridge-{self.site}"

    @property
    def local_clientid(self) -> str:
        return f"local.bridge-{self.site}"

    @property
    def topics(self) -> list[tuple[str, str]]:
        """(pattern, direction) mappings, both QoS 1."""
        return [
            (f"{PREFIX}/{self.site}/#", "out"),  # everything the hall's devices publish
            (command_filter(self.site), "in"),  # model rollouts and delivery receipts for the hall's devices
        ]


def render_bridge(bridge: Bridge) -> list[str]:
    """The Mosquitto config lines of the bridge section (for ``BrokerConfig.extra``)."""
    lines = [
        "",
        f"connection {bridge.name}",
        f"addresses {' '.join(bridge.addresses)}",
        "round_robin false",
        "start_type automatic",
        f"restart_timeout {bridge.restart_base_s} {bridge.restart_cap_s}",
        f"keepalive_interval {bridge.keepalive_s}",
        "bridge_protocol_version mqttv311",
        # Announce ourselves as a bridge (Mosquitto, EMQX understand it): no echo loops, retain flags kept.
        "try_private true",
        # Persistent sessions on both sides: queued QoS 1 messages survive a WAN outage.
        "cleansession false",
        "local_cleansession false",
        f"remote_clientid {bridge.remote_clientid}",
        f"local_clientid {bridge.local_clientid}",
        f"remote_username {bridge.remote_username}",
        f"remote_password {bridge.remote_password}",
        # The link state as a retained $SYS message on the hall broker only: the central ACL would refuse it.
        "notifications true",
        "notifications_local_only true",
    ]
    lines += [f"topic {pattern} {direction} 1" for pattern, direction in bridge.topics]
    if bridge.tls is not None:
        lines += [f"bridge_cafile {bridge.tls.cafile}", "bridge_tls_version tlsv1.2", "bridge_insecure false"]
        if bridge.tls.certfile is not None and bridge.tls.keyfile is not None:
            lines += [f"bridge_certfile {bridge.tls.certfile}", f"bridge_keyfile {bridge.tls.keyfile}"]
    return lines
