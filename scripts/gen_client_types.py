"""Pure: the Python client's TypedDicts (`clients/python/tollgate_client/types.py`) from the
OpenAPI document's `components.schemas`. Called by `scripts/gen_docs.py`, whose check (and
`tests/docs/test_docs_current.py`) fails when the committed file drifts from the document."""

from __future__ import annotations

import json
import keyword
from typing import Any

HEADER = '''# fmt: off
"""Response and request types of the Tollgate API, generated from its OpenAPI document
(`docs/openapi.json`) by `scripts/gen_docs.py`; do not edit by hand."""
from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict  # noqa: F401
'''


def _literal(values: list[Any]) -> str:
    return "Literal[" + ", ".join(json.dumps(v) if isinstance(v, str) else repr(v) for v in values) + "]"


def annotation(schema: dict[str, Any]) -> str:
    """The Python annotation of one JSON schema (refs by name, as strings are not needed:
    the module uses postponed annotations)."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "const" in schema:
        return _literal([schema["const"]])
    if "enum" in schema:
        return _literal(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts: list[str] = []
            for sub in schema[key]:
                a = "None" if sub.get("type") == "null" else annotation(sub)
                if a not in parts:
                    parts.append(a)
            return " | ".join(parts)
    kind = schema.get("type")
    if kind == "string":
        return "str"
    if kind == "integer":
        return "int"
    if kind == "number":
        return "float"
    if kind == "boolean":
        return "bool"
    if kind == "null":
        return "None"
    if kind == "array":
        return f"list[{annotation(schema.get('items', {}))}]"
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        return "dict[str, Any]"
    return "Any"


def _typed_dict(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    fields = []
    for field, sub in schema.get("properties", {}).items():
        a = annotation(sub)
        fields.append((field, a if field in required else f"NotRequired[{a}]"))
    if not fields:
        return f"{name} = dict[str, Any]\n"
    if all(f.isidentifier() and not keyword.iskeyword(f) for f, _ in fields):
        body = "\n".join(f"    {f}: {a}" for f, a in fields)
        return f"class {name}(TypedDict):\n{body}\n"
    items = ", ".join(f"{json.dumps(f)}: {json.dumps(a)}" for f, a in fields)
    return f"{name} = TypedDict({name!r}, {{{items}}})\n"


def python_types(doc: dict[str, Any]) -> str:
    out = [HEADER]
    for name, schema in sorted(doc["components"]["schemas"].items()):
        if schema.get("type") == "object" or "properties" in schema:
            out.append("\n\n" + _typed_dict(name, schema))
        else:
            out.append(f"\n\n{name} = {annotation(schema)}\n")
    return "".join(out)
