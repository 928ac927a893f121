"""Read template.yaml, CloudFormation short tags included, so local resources match AWS ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"


@dataclass(frozen=True)
class Intrinsic:
    """A CloudFormation function (`!Ref`, `!Sub`, …) kept as written; AWS resolves it, not us."""

    tag: str
    value: Any


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader of its own, so that the intrinsic tags registered on it stay off yaml's."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Intrinsic:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Intrinsic(tag_suffix, value)


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, intrinsics as `Intrinsic` values."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def resource_properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The Properties of one resource, failing loudly if the template no longer has it."""
    try:
        return template["Resources"][logical_id]["Properties"]
    except KeyError:
        raise KeyError(f"template.yaml has no resource {logical_id!r} with Properties") from None


def literal(properties: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named properties that are plain values (intrinsics left out: the caller supplies those)."""
    return {name: properties[name] for name in names if name in properties and not _has_intrinsic(properties[name])}


def _has_intrinsic(value: Any) -> bool:
    if isinstance(value, Intrinsic):
        return True
    if isinstance(value, dict):
        return any(_has_intrinsic(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_intrinsic(item) for item in value)
    return False
