"""Credentials out of everything skillfit writes or prints.

A key can reach text three ways: inside a base URL (`http://user:KEY@host/v1`), inside a provider
error that echoes the request's headers (`Authorization: Bearer sk-...`), or as the value of a
credential variable that some message quotes. `redact(text)` removes all three; it is applied to
model names, stored error text, run configs and summaries.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"

# Environment variables whose values are secrets wherever they appear.
SECRET_ENV = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "GITHUB_TOKEN",
)

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]*@")
_HEADER = re.compile(
    r"(?i)((?:proxy-)?authorization|x-api-key|api-key|openai-api-key|anthropic-api-key)"
    r"(['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|token)\s+)?[^\s'\",;}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}"
    r"|AKIA[0-9A-Z]{16}|xox[baprs]-[A-Za-z0-9-]{10,})"
)
_QUERY_KEY = re.compile(r"(?i)([?&](?:api[-_]?key|key|token|access_token|sig)=)[^&\s'\"]+")


def _env_secrets() -> list[str]:
    values = []
    for name in SECRET_ENV:
        value = os.environ.get(name, "").strip()
        if len(value) >= 8:  # a short value would mask ordinary words
            values.append(value)
    return sorted(values, key=len, reverse=True)


def _header(m: re.Match[str]) -> str:
    scheme = f"{m.group(3)} " if m.group(3) else ""
    return f"{m.group(1)}{m.group(2)}{scheme}{MASK}"


def redact(text: str) -> str:
    """`text` with credentials masked: URL user info, auth headers, bearer tokens, well-known
    key shapes, key query parameters and the values of credential environment variables."""
    if not text:
        return text
    for value in _env_secrets():
        text = text.replace(value, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _HEADER.sub(_header, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _KEY_SHAPES.sub(MASK, text)
    return _QUERY_KEY.sub(lambda m: f"{m.group(1)}{MASK}", text)


# Keys a client is given where no key is needed (a local or self-hosted server).
PLACEHOLDER_KEYS = frozenset({"not-needed", "local", "sk-x", "none", "EMPTY"})


def client_secrets(api_key: object, base_url: object) -> tuple[str, ...]:
    """The secrets an SDK client holds: its API key (not a placeholder) and the password in
    its base URL's user info."""
    found = []
    if isinstance(api_key, str) and len(api_key) >= 8 and api_key not in PLACEHOLDER_KEYS:
        found.append(api_key)
    try:
        password = urlsplit(str(base_url)).password if base_url else None
    except ValueError:
        password = None
    if password and len(password) >= 8:
        found.append(unquote(password))
    return tuple(found)


def redact_known(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with the known secrets masked: the values of the credential environment
    variables and `secrets` (a client's key, say). For model replies: unlike `redact`, no
    pattern is masked, so a reply about auth headers or URLs keeps its text."""
    if not text:
        return text
    values = sorted({*_env_secrets(), *(s for s in secrets if len(s) >= 8)}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    return text


def redact_obj(obj: Any) -> Any:
    """Every string inside `obj` (dicts, lists, tuples) redacted; other values as they are."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj
