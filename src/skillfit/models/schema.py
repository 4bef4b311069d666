"""Response schemas: turn a ResponseFormat into JSON schema, and validate replies against it.

Every structured reply is validated here before it leaves the model layer, whatever the provider
promised about constrained decoding.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from skillfit.models.base import ResponseFormat, SchemaValidationError


def is_pydantic(response_format: ResponseFormat) -> bool:
    return isinstance(response_format, type) and issubclass(response_format, BaseModel)


def json_schema(response_format: ResponseFormat) -> dict[str, Any]:
    """The JSON schema of a response format (a pydantic class or a JSON-schema dict)."""
    if is_pydantic(response_format):
        return response_format.model_json_schema()  # type: ignore[union-attr]
    if isinstance(response_format, dict):
        return response_format
    raise TypeError(
        f"response_format must be a pydantic model class or a dict, got {response_format!r}"
    )


def schema_name(response_format: ResponseFormat) -> str:
    """A provider-safe name for the schema (OpenAI and Anthropic want ^[a-zA-Z0-9_-]{1,64}$)."""
    if is_pydantic(response_format):
        raw = response_format.__name__  # type: ignore[union-attr]
    else:
        raw = str(json_schema(response_format).get("title") or "response")
    return re.sub(r"[^a-zA-Z0-9_-]", "_", raw)[:64] or "response"


def schema_fingerprint(response_format: ResponseFormat | None) -> str:
    """Canonical text of the schema, for cache keys."""
    if response_format is None:
        return ""
    return json.dumps(json_schema(response_format), sort_keys=True, separators=(",", ":"))


def _extract_json(text: str) -> str:
    # Providers without constrained decoding sometimes wrap JSON in a markdown fence.
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    return fenced.group(1).strip() if fenced else text.strip()


def validate(text: str, response_format: ResponseFormat, *, finish_reason: str = "stop") -> Any:
    """Parse `text` against the schema: a pydantic instance or a JSON value.

    Raises SchemaValidationError with a short reason (and the reply in `.raw_text`) when the
    reply does not conform.
    """
    try:
        return _validate(text, response_format)
    except SchemaValidationError as exc:
        if finish_reason == "length":
            exc.args = (f"{exc} (the reply was cut off at max_tokens)",)
        exc.raw_text = text
        raise


def _validate(text: str, response_format: ResponseFormat) -> Any:
    body = _extract_json(text)
    if is_pydantic(response_format):
        try:
            return response_format.model_validate_json(body)  # type: ignore[union-attr]
        except ValidationError as exc:
            raise SchemaValidationError(
                f"reply does not match {schema_name(response_format)}: {exc.errors()[:3]}"
            ) from exc
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise SchemaValidationError(f"reply is not JSON: {exc}") from exc
    try:
        jsonschema.validate(value, json_schema(response_format))
    except jsonschema.ValidationError as exc:
        raise SchemaValidationError(f"reply does not match the schema: {exc.message}") from exc
    return value
