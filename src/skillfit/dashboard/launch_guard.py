"""What the launch form may change. The dashboard starts runs as its user, with the keys in
its environment, so the form may not:

- import code: `task.module` (and `task.base_dir`, the folder a relative module is read from)
  must be what the chosen config says; a module comes from a config file, never from the form;
- send a key elsewhere: every URL in the resulting config (a model's `@base_url`, a judge's)
  must already be in one of the configs the dashboard offers (its `--configs` folder).

A config file in that folder is trusted as the user's own; the form only picks one and
changes a few keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from skillfit.models.redact import MASK, redact

_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*=[^\n\r\x00]{0,500}$")
_URL = re.compile(r"(?i)\bhttps?://[^\s'\"<>]+")


class LaunchError(ValueError):
    """A launch, stop or resume that cannot be done (said in one line)."""


def check_override(text: str) -> str:
    text = text.strip()
    if not _OVERRIDE.match(text):
        raise LaunchError(f"not a key=value override: {redact(text)!r}")
    return text


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _strings(value)


def urls_in(obj: Any) -> set[str]:
    """Every http(s) URL in the strings of `obj` (a model's `@base_url` among them)."""
    return {m.group(0).rstrip("/") for text in _strings(obj) for m in _URL.finditer(text)}


def _load(config: Path, overrides: list[str]) -> dict[str, Any]:
    from skillfit.train.config import ConfigError, config_to_dict, load_config

    try:
        return config_to_dict(load_config(config, overrides))
    except ConfigError as exc:
        raise LaunchError(redact(str(exc))) from None
    except (OSError, ValueError) as exc:
        raise LaunchError(redact(str(exc))) from None


def check_launch(config: Path, overrides: list[str], offered: Mapping[str, Path]) -> None:
    """The config with the overrides must load (a typo is said in the form, not in a log),
    import no module and name no server that the offered configs do not."""
    final = _load(config, overrides)
    if not overrides:
        return
    own = _load(config, [])
    for key in ("module", "base_dir"):
        if final["task"].get(key) != own["task"].get(key):
            raise LaunchError(
                f"task.{key} cannot be set from the launch form: it would run code as you. Put "
                f"it in a config file in {config.parent}, then pick that config"
            )
    allowed: set[str] = set()
    for path in offered.values():
        try:
            allowed |= urls_in(_load(path, []))
        except LaunchError:
            continue  # a config that does not load names no server
    new = sorted(urls_in(final) - allowed)
    if new:
        raise LaunchError(
            f"the server {redact(new[0])} is in no config this dashboard offers: a model's "
            f"base URL (where its API key is sent) can only come from a config file in "
            f"{config.parent}"
        )


def restore_keys(overrides: list[str], offered: Mapping[str, Path]) -> list[str]:
    """Overrides as a launch record keeps them (keys masked) made whole again from the
    offered configs their URLs came from; a key no offered config holds any more cannot be."""
    urls: set[str] = set()
    for path in offered.values():
        try:
            urls |= urls_in(_load(path, []))
        except LaunchError:
            continue
    out = []
    for override in overrides:
        for url in sorted(urls, key=len, reverse=True):
            masked = redact(url)
            if masked != url and masked in override:
                override = override.replace(masked, url)
        if MASK in override:
            raise LaunchError(
                f"cannot resume with {override!r}: the key it held is in no offered config "
                "any more (the dashboard keeps keys nowhere); launch the run again from the form"
            )
        out.append(override)
    return out
