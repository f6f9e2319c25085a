"""Request bodies that a route parses itself (so that each problem names its JSON pointer), documented in
OpenAPI from a pydantic model: `json_body()` gives the route's `openapi_extra`, `hoist_components()` (wired
by create_service_app) moves the model's definitions into `components.schemas`, where the `$ref`s point.

Definitions are hoisted, not inlined, because a model may be recursive (a framework's tree of nodes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

COMPONENTS = "x-hitech-components"  # carried on the operation only until the document is built
REF_TEMPLATE = "#/components/schemas/{model}"


def json_body(shape: Any, *, example: Any = None, examples: Mapping[str, Any] | None = None,
              extra_content: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`openapi_extra` for a required JSON body of `shape` (a pydantic model, or a union of them), with an
    example or named examples (`{name: value}`), plus other media types if given."""
    schema = TypeAdapter(shape).json_schema(ref_template=REF_TEMPLATE)
    definitions = schema.pop("$defs", {})
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"requestBody": {"required": True, "content": {"application/json": media, **(extra_content or {})}},
            COMPONENTS: definitions}


def _hoist(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for name, definition in operation.pop(COMPONENTS, {}).items():
                known = components.setdefault(name, definition)
                if known != definition:  # two models of one name: the document would lie about one of them
                    raise RuntimeError(f"OpenAPI component {name!r} is defined twice, differently")


def hoist_components(app: FastAPI) -> None:
    """Wrap `app.openapi` so that the document it builds (once, then cached) carries the hoisted definitions."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _hoist(build())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

