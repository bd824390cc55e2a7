"""What may import what. Read from the source with ``ast`` (nothing is imported), so a violation fails here
even in a module no other test loads, and even when it sits in a function body or under ``TYPE_CHECKING``.

    common/        the floor: imports no CounterWatch package
    broker/        the MQTT contract: edge and dashboard both stand on it
    edge/, dashboard/   never import each other
    vision/        the one inference core (letterbox, ORT session, decode, NMS, taxonomy, verifiers):
                   edge, models and the benches call it; it imports only common/ and broker/
    models/        training, export, evaluation (runtime parts used by the edge)
    counterwatch/  the CLI above everything; no package below imports it
    rigs/          benches and fault rigs; they drive the services, no service imports them
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "broker", "vision", "edge", "dashboard", "models", "counterwatch", "rigs")
SERVICES = ("edge", "broker", "dashboard", "models", "vision")
TRAINING = ("torch", "torchvision", "ultralytics")


@dataclass(frozen=True)
class Rule:
    name: str
    packages: tuple[str, ...]  # the rule covers every module of these top-level packages
    forbidden: tuple[str, ...]  # top-level modules they must not import


RULES = (
    Rule("services never import the CLI or the rigs", SERVICES, ("counterwatch", "rigs")),
    Rule("edge never imports dashboard", ("edge",), ("dashboard",)),
    Rule("dashboard never imports edge", ("dashboard",), ("edge",)),
    Rule("broker imports neither edge nor dashboard", ("broker",), ("edge", "dashboard")),
    Rule("vision imports only common and broker", ("vision",),
         tuple(p for p in PACKAGES if p not in ("common", "broker", "vision"))),
    Rule("models import neither edge nor dashboard", ("models",), ("edge", "dashboard")),
    Rule("common imports no CounterWatch package", ("common",), tuple(p for p in PACKAGES if p != "common")),
    Rule("the runtime never imports the training stack", ("common", "broker", "vision", "edge", "dashboard"), TRAINING),
)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute dotted name


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every module ``path`` imports: ``import``, ``from ... import`` (relative ones resolved) and
    ``importlib.import_module("literal")`` / ``__import__("literal")``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(path, node.lineno, base)
            # ``from pkg import sub`` may import a sub-module: count ``pkg.sub`` too.
            for alias in node.names:
                if alias.name != "*":
                    yield Import(path, node.lineno, f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield Import(path, node.lineno, node.args[0].value)


def violations(root: Path, rule: Rule) -> list[str]:
    found = []
    for package in rule.packages:
        for path in sorted((root / package).rglob("*.py")):
            for imp in imports_of(root, path):
                if imp.module.split(".")[0] in rule.forbidden:
                    found.append(f"{imp.path.relative_to(root)}:{imp.line} imports {imp.module}")
    return sorted(set(found))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name.replace(" ", "-"))
def test_layering(rule: Rule) -> None:
    assert all((ROOT / p).is_dir() for p in rule.packages)
    assert violations(ROOT, rule) == [], rule.name


def test_every_package_is_covered() -> None:
    """A new top-level package must be placed in the layering (and shipped: pyproject, mypy, Dockerfile)."""
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk == set(PACKAGES)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert set(pyproject["tool"]["setuptools"]["packages"]["find"]["include"]) == {f"{p}*" for p in PACKAGES}
    assert set(pyproject["tool"]["mypy"]["packages"]) == set(PACKAGES)
    dockerfile = (ROOT / "deploy/Dockerfile").read_text(encoding="utf-8")
    for package in PACKAGES:
        assert f"COPY {package} ./{package}\n" in dockerfile, package


# -- the checker itself, on a synthetic tree -------------------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_checker_finds_every_kind_of_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "edge/__init__.py": "",
        "edge/ok.py": "import json\nfrom edge import ok\nfrom broker.topics import Topic\n",
        "edge/a.py": "import counterwatch.cli\n",
        "edge/b.py": "from rigs import soak\n",
        "edge/sub/__init__.py": "",
        "edge/sub/c.py": "def f():\n    from ...rigs.soak import wait_until\n",
        "edge/d.py": "import importlib\nimportlib.import_module('counterwatch.bench')\n",
        "edge/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dashboard.settings import X\n",
    })
    rule = Rule("test", ("edge",), ("counterwatch", "rigs", "dashboard"))
    assert violations(root, rule) == [
        "edge/a.py:1 imports counterwatch.cli",
        "edge/b.py:1 imports rigs",
        "edge/b.py:1 imports rigs.soak",
        "edge/d.py:2 imports counterwatch.bench",
        "edge/e.py:3 imports dashboard.settings",
        "edge/e.py:3 imports dashboard.settings.X",
        "edge/sub/c.py:2 imports rigs.soak",
        "edge/sub/c.py:2 imports rigs.soak.wait_until",
    ]


def test_checker_resolves_relative_imports_inside_the_package(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "dashboard/__init__.py": "from . import settings\n",
        "dashboard/reports/__init__.py": "from .monthly import build\nfrom ..settings import S\n",
    })
    mods = {i.module for p in sorted(root.rglob("*.py")) for i in imports_of(root, p)}
    assert mods == {"dashboard", "dashboard.settings", "dashboard.reports.monthly", "dashboard.reports.monthly.build",
                    "dashboard.settings.S"}
    assert violations(root, Rule("test", ("dashboard",), ("edge",))) == []
