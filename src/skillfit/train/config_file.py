"""Reading one YAML config file strictly: a regular file of sane size, a mapping, each key once.

PyYAML keeps the later of two equal keys without a word, so a second `train:` section would
silently replace the first; here it is an error naming the key and both lines. An empty file
is refused too: it would train the defaults (60 items on the embedded model) while the user
believes their settings apply. Errors never quote the file's content beyond a key that looks
like one, since a wrong path may name a file holding secrets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from skillfit.core.readfile import FileRefused, read_regular_file, yaml_problem

# A config is a few kilobytes; anything this large is the wrong file.
MAX_CONFIG_BYTES = 2**20
_KEY_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


class ConfigFileError(ValueError):
    """A config file that cannot be used as one (the message names the file)."""


def shown_key(key: object) -> str:
    """`key` quoted if it looks like a config key; otherwise a description without its text
    (an unrelated file's lines, read as keys, may be secrets)."""
    if isinstance(key, str) and _KEY_LIKE.match(key):
        return repr(key)
    return "(text that is no config key)"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader refusing a key given twice in one mapping."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.setdefault(key, line)
                except TypeError:
                    continue  # an unhashable key: the base class reports it
                if first != line:
                    raise yaml.constructor.ConstructorError(
                        problem=f"key {shown_key(key)} given twice, at lines {first} and "
                        f"{line} (the later would replace the earlier): give it once"
                    )
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping in the YAML file at `path` and the line of each of its top-level keys."""
    try:
        raw = read_regular_file(path, MAX_CONFIG_BYTES, "a config file")
    except FileNotFoundError:
        raise ConfigFileError(f"config file not found: {path}") from None
    except FileRefused as exc:
        raise ConfigFileError(f"config file {exc}") from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"config file {path} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"invalid YAML in {path}: {yaml_problem(exc)}") from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigFileError(
            f"config file {path} is empty: it would train every default (the embedded model "
            "on bbh/boolean_expressions); write your settings (skillfit init writes a "
            "starting config), or `{}` to mean the defaults"
        )
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    lines = {}
    if isinstance(node, MappingNode):
        for key_node, _ in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 1
    return data, lines
