"""The deployment files (deploy/) cannot run here (no container engine), so check what can be checked:
every file parses, images are pinned, every ``CW_`` variable is a real setting and its value validates,
compose ``${VAR}`` references are defined, Secret references resolve, ports agree with the settings, and
the rendered broker config (with its bridge) comes out of the very environment a container gets."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from broker.cli import broker_config
from broker.mosquitto import render_config
from broker.settings import BrokerSettings
from broker.topics import INGEST_SUBSCRIPTIONS
from counterwatch.cli import build_parser
from dashboard.settings import DashboardSettings
from edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose"
K8S = DEPLOY / "k8s"

SETTINGS: dict[str, type[BaseModel]] = {
    "CW_BROKER_": BrokerSettings,
    "CW_DASHBOARD_": DashboardSettings,
    "CW_EDGE_": EdgeSettings,
}
# Settings the deployment already uses that the service does not have yet. Each is documented in
# docs/scale-out.md; remove the entry when the setting lands.
AWAITED: set[str] = set()

COUNTERWATCH_IMAGES = {"counterwatch", "${CW_IMAGE:-counterwatch:0.1.0}"}
PINNED_IMAGES = re.compile(r"^(eclipse-mosquitto:2\.0\.\d+|postgres:16)$")
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"})


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def setting_path(name: str) -> list[str]:
    """``CW_EDGE_MQTT__TLS__CA`` -> ``["mqtt", "tls", "ca"]`` under EdgeSettings; raise if no such field."""
    prefix = next((p for p in SETTINGS if name.startswith(p)), None)
    if prefix is None:
        raise AssertionError(f"{name}: no service has the prefix")
    model: type[BaseModel] | None = SETTINGS[prefix]
    path = name.removeprefix(prefix).lower().split("__")
    for i, part in enumerate(path):
        if model is None or part not in model.model_fields:
            raise AssertionError(f"{name}: {'.'.join(path[:i + 1])} is not a field of {SETTINGS[prefix].__name__}")
        model = _model_in(model.model_fields[part].annotation)
    return path


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def env_example(compose_file: Path) -> dict[str, str]:
    example = compose_file.with_name(compose_file.stem + ".env.example")
    pairs = (line.split("=", 1) for line in example.read_text().splitlines() if line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, op, default = m.groups()
        if name in env:
            return env[name]
        assert op in (":-", "-"), f"${{{name}}} is neither in the .env example nor has a default"
        return default

    return INTERPOLATION.sub(one, value)


def compose_services(path: Path) -> dict[str, dict[str, Any]]:
    (doc,) = documents(path)
    return dict(doc["services"])


def k8s_objects() -> Iterator[dict[str, Any]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            yield from documents(path)


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in k8s_objects():
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def k8s_secrets() -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o["stringData"] for o in k8s_objects() if o["kind"] == "Secret"}


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """A container's environment as the pod would see it, Secret values taken from the example Secrets."""
    secrets = k8s_secrets()
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], str(var["value"]))
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["key"] in secrets.get(ref["name"], {}), f"{var['name']}: no Secret {ref['name']}/{ref['key']}"
            env[var["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            env[var["name"]] = "pod-0"  # fieldRef: the pod or node name
    return env


def load_with_env(monkeypatch: pytest.MonkeyPatch, cls: type[BaseModel], env: dict[str, str],
                  **init: Any) -> Any:
    """Build a settings object the way the container does: from its CW_ environment."""
    with monkeypatch.context() as m:
        for name, value in env.items():
            if name.startswith("CW_") and name not in AWAITED:
                m.setenv(name, value)
        return cls(**init)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deployment_file_parses(path: Path) -> None:
    assert documents(path), f"{path} is empty"


def test_images_are_the_projects_or_pinned_official_ones() -> None:
    images = [s["image"] for f in COMPOSE.glob("*.yml") for s in compose_services(f).values()]
    images += [c["image"] for _n, spec in pod_specs() for c in spec.get("initContainers", []) + spec["containers"]]
    assert images
    for image in images:
        assert image in COUNTERWATCH_IMAGES or PINNED_IMAGES.match(image), image
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile and "USER 10001:10001" in dockerfile


def test_every_cw_variable_is_a_setting_of_its_service() -> None:
    names = {n for f in COMPOSE.glob("*.yml") for s in compose_services(f).values() for n in s.get("environment", {})}
    names |= {v["name"] for _n, spec in pod_specs() for c in spec.get("initContainers", []) + spec["containers"]
              for v in c.get("env", [])}
    cw_names = {n for n in names if n.startswith("CW_")}
    assert {"CW_DASHBOARD_DATABASE_URL", "CW_DASHBOARD_MQTT__HOST", "CW_EDGE_MQTT__HOST"} <= cw_names
    for name in sorted(cw_names - AWAITED):
        setting_path(name)
    for name in AWAITED:
        assert name in cw_names, f"{name} is awaited but no longer used: drop it from AWAITED"


def _check_shared_group(dash: DashboardSettings, env: dict[str, str]) -> None:
    """The group reaches the setting and the consumer subscribes inside it (tests/dashboard/test_shared_ingest.py
    shows two workers in one group splitting the stream on a real Mosquitto)."""
    group = env.get("CW_DASHBOARD_MQTT__SHARED_GROUP")
    assert dash.mqtt.shared_group == group
    if group is None:
        return
    assert dash.mqtt.protocol == "mqttv5", "shared-group workers speak MQTT v5 (session expiry, $share)"
    for topic_filter in INGEST_SUBSCRIPTIONS:
        assert dash.mqtt.subscription(topic_filter) == f"$share/{group}/{topic_filter}"


@pytest.mark.parametrize("compose_file", sorted(COMPOSE.glob("*.yml")), ids=lambda p: p.name)
def test_compose_environment_builds_valid_settings(compose_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = env_example(compose_file)
    services = compose_services(compose_file)
    shared_groups: set[str | None] = set()
    for service in services.values():
        env = {k: interpolate(str(v), example) for k, v in service.get("environment", {}).items()}
        if any(k.startswith("CW_BROKER_") for k in env):
            broker = load_with_env(monkeypatch, BrokerSettings, env)
            config = render_config(broker_config(broker))
            assert f"listener {broker.tls_port} 0.0.0.0" in config
            # Mosquitto reads the file broker-config rendered, in the volume both mount.
            mosquitto = services["mosquitto"]
            assert mosquitto["command"][-1] == f"{service['command'][-1]}/mosquitto.conf"
            assert {v.split(":")[1] for v in mosquitto["volumes"]} >= {service["command"][-1], "/certs"}
            assert f"{broker.tls_port}:{broker.tls_port}" in mosquitto["ports"]
            if broker.bridge is not None:
                assert f"connection {example['CW_SITE']}-to-central" in config
                assert f"addresses {example['CW_CENTRAL_BROKER']}" in config
                assert broker.bridge.tls is not None and f"bridge_cafile {broker.bridge.tls.ca}" in config
        if any(k.startswith("CW_DASHBOARD_") for k in env):
            dash = load_with_env(monkeypatch, DashboardSettings, env)
            assert dash.database_url.startswith("postgresql+psycopg://counterwatch:")
            assert dash.mqtt.host == "mosquitto" and dash.mqtt.port == 1883
            _check_shared_group(dash, env)
            shared_groups.add(dash.mqtt.shared_group)
            if "ports" in service:
                assert service["ports"] == [f"127.0.0.1:{dash.http_port}:{dash.http_port}"]
        if any(k.startswith("CW_EDGE_") for k in env):
            edge = load_with_env(monkeypatch, EdgeSettings, env)
            assert edge.mqtt.host == "mosquitto" and edge.site == example["CW_SITE"]
    # Every dashboard process runs a consumer (`serve` too), and all of them must be in one group: one
    # outside it, or in a second group, would get every message again.
    assert not shared_groups or (len(shared_groups) == 1 and None not in shared_groups), shared_groups


def test_k8s_environment_builds_valid_settings_and_ports_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    services = {o["metadata"]["name"]: o for o in k8s_objects() if o["kind"] == "Service"}
    k8s_groups: set[str | None] = set()
    for name, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            env = container_env(container)
            ports = {p["containerPort"] for p in container.get("ports", [])}
            if any(k.startswith("CW_BROKER_") for k in env):
                broker = load_with_env(monkeypatch, BrokerSettings, env)
                broker_ports = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
                assert {broker.port, broker.tls_port} <= broker_ports
            if any(k.startswith("CW_DASHBOARD_") for k in env):
                dash = load_with_env(monkeypatch, DashboardSettings, env)
                assert dash.mqtt.host in services, f"{name}: no Service {dash.mqtt.host}"
                _check_shared_group(dash, env)
                k8s_groups.add(dash.mqtt.shared_group)
                assert dash.database_url.split("@")[1].split(":")[0] in services
                assert not ports or ports == {dash.http_port}
            if any(k.startswith("CW_EDGE_") for k in env):
                edge = load_with_env(monkeypatch, EdgeSettings, env, site="hall1", device="pod-0")
                assert edge.mqtt.tls is not None and edge.mqtt.port == 8883
    assert len(k8s_groups) == 1 and None not in k8s_groups, k8s_groups  # web pods and ingest workers alike
    for service in services.values():
        selector = service["spec"]["selector"]
        (_name, spec), = [(n, s) for n, s in pod_specs() if n == selector["app.kubernetes.io/name"]]
        exposed = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
        assert {p.get("targetPort", p["port"]) for p in service["spec"].get("ports", [])} <= exposed


def test_example_edge_configs_validate() -> None:
    for key, text in k8s_secrets()["edge-configs"].items():
        settings = EdgeSettings.model_validate(yaml.safe_load(text))
        assert f"{settings.device}.yaml" == key  # the DaemonSet picks the file by node name


def counterwatch_commands() -> Iterator[tuple[str, list[str]]]:
    for f in COMPOSE.glob("*.yml"):
        for name, service in compose_services(f).items():
            if service["image"] in COUNTERWATCH_IMAGES:
                yield f"{f.name}:{name}", list(service["command"])
    for name, spec in pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            if c["image"] == "counterwatch":
                args = c.get("args") or []
                if c.get("command") == ["sh", "-c"]:
                    args = args[0].split("exec counterwatch ", 1)[1].split()
                elif "command" in c:
                    continue  # a plain tool of the image (chown)
                yield f"k8s:{name}/{c['name']}", [a.replace("$(NODE_NAME)", "node") for a in args]


@pytest.mark.parametrize(("where", "argv"), list(counterwatch_commands()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_counterwatch_commands_exist(where: str, argv: list[str]) -> None:
    if argv[0] == "dashboard":
        pytest.importorskip("dashboard.cli", reason="the dashboard's CLI module is not in this tree yet")
    args = build_parser(argv).parse_args(argv)
    assert getattr(args, "handler", None) is not None, where


def test_every_ingest_consumer_has_its_own_stable_client_id() -> None:
    """A shared-subscription member's queued share belongs to its client id (see
    test_shared_subscription.py): ids must be distinct and survive restarts."""
    ids = []
    for f in COMPOSE.glob("*.yml"):
        for service in compose_services(f).values():
            env = service.get("environment", {})
            if "CW_DASHBOARD_MQTT__HOST" in env:
                assert "CW_DASHBOARD_MQTT__CLIENT_ID" in env and "replicas" not in service.get("deploy", {})
                ids.append(env["CW_DASHBOARD_MQTT__CLIENT_ID"])
    assert len(ids) == len(set(ids)) >= 3
    stateful = {o["metadata"]["name"] for o in k8s_objects() if o["kind"] == "StatefulSet"}
    for name, spec in pod_specs():
        for container in spec["containers"]:
            env = {v["name"]: v for v in container.get("env", [])}
            if "CW_DASHBOARD_MQTT__HOST" in env:
                assert name in stateful, f"{name}: pod names (client ids) must be stable"
                assert "$(POD_NAME)" in env["CW_DASHBOARD_MQTT__CLIENT_ID"]["value"]
