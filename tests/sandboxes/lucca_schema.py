"""Validate documents against Lucca's published OpenAPI document, read in place (never copied).

The document is found at `$LUCCA_OPENAPI_PATH`, else at `<repo>/../shared/reference/`. Schemas
are JSON Schema 2020-12 with `$ref: "#/components/schemas/…"`: the whole OpenAPI document is
registered as one resource, so those references resolve inside it. `format` is not asserted
and `readOnly` / `writeOnly` are annotations only.

One defect of the published document is corrected in memory: in `oneof-topics` the catch-all
branch `{"type": "string", "title": "other"}` also matches every listed topic, so `oneOf`
rejects `employee.created` and every other known topic. The catch-all is narrowed to "a
string that is none of the listed topics", which is what it means.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

FILE_NAME = "lucca-api@2024-11-01.json"
BASE_URI = "urn:lucca:openapi:2024-11-01"


def openapi_path() -> Path:
    """Where Lucca's OpenAPI document is expected."""
    explicit = os.environ.get("LUCCA_OPENAPI_PATH")
    if explicit:
        return Path(explicit)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "reference" / FILE_NAME


def _escape(part: str) -> str:
    """One JSON Pointer segment."""
    return part.replace("~", "~0").replace("/", "~1")


def fix_topics(document: dict[str, Any]) -> None:
    """Narrow the catch-all branch of `oneof-topics` so that `oneOf` can match known topics."""
    branches = document["components"]["schemas"]["oneof-topics"]["oneOf"]
    known = [branch["const"] for branch in branches if "const" in branch]
    for branch in branches:
        if "const" not in branch and branch.get("type") == "string":
            branch["not"] = {"enum": known}


class LuccaSchemas:
    """Validators built from one OpenAPI document."""

    def __init__(self, document: dict[str, Any], *, fix: bool = True) -> None:
        self.document = copy.deepcopy(document)
        if fix:
            fix_topics(self.document)
        resource = DRAFT202012.create_resource(self.document)
        self._registry: Registry[Any] = Registry().with_resource(BASE_URI, resource)

    def _errors(self, pointer: str, instance: Any) -> list[str]:
        """Every validation error of `instance` against the schema at `pointer`."""
        schema = {"$ref": f"{BASE_URI}#/{pointer}"}
        validator = Draft202012Validator(schema, registry=self._registry)
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:300]}"
            for error in validator.iter_errors(instance)
        ]

    def schema_errors(self, name: str, instance: Any) -> list[str]:
        """Errors against `components.schemas[name]`."""
        return self._errors(f"components/schemas/{_escape(name)}", instance)

    def response_errors(self, method: str, template: str, status: int, instance: Any) -> list[str]:
        """Errors against the documented response of an operation (`default` if undocumented)."""
        operation = self.document["paths"][template][method.lower()]
        key = str(status) if str(status) in operation["responses"] else "default"
        pointer = "/".join(["paths", _escape(template), method.lower(), "responses", _escape(key)])
        response = operation["responses"][key]
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#/")
            response = self.document
            for part in pointer.split("/"):
                response = response[part.replace("~1", "/").replace("~0", "~")]
        media = next(
            m for m in ("application/json", "application/problem+json") if m in response["content"]
        )
        return self._errors(f"{pointer}/content/{_escape(media)}/schema", instance)


@cache
def load_schemas() -> LuccaSchemas | None:
    """The validators, or None when the OpenAPI document is not there."""
    path = openapi_path()
    if not path.is_file():
        return None
    return LuccaSchemas(json.loads(path.read_text(encoding="utf-8")))
