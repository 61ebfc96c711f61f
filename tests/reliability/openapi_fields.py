"""Reading an OpenAPI document for the input-class suite: which fields an operation has, of
which class (date-time, decimal, integer, string), and a dashboard client signed in by hand."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx

BodyPath = tuple[str | int, ...]


class Schemas:
    """Schema lookups in one OpenAPI document: references, nullable unions, unions by tag."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def flatten(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The members of a (nested) ``anyOf``, references resolved."""
        schema = self.resolve(schema)
        if "anyOf" not in schema:
            return [schema]
        return [member for option in schema["anyOf"] for member in self.flatten(option)]

    def field_class(self, schema: dict[str, Any]) -> str | None:
        """date-time, decimal, integer or string; None for enums, booleans and containers."""
        variants = [s for s in self.flatten(schema) if s.get("type") != "null"]
        types = {s.get("type") for s in variants}
        if any("enum" in s or "const" in s for s in variants):
            return None
        if any(s.get("format") == "date-time" for s in variants):
            return "date-time"
        if "number" in types:
            return "decimal"
        if types == {"integer"}:
            return "integer"
        if types == {"string"}:
            return "string"
        return None

    def variant_for(self, schema: dict[str, Any], value: Any) -> dict[str, Any]:
        """The member of a tagged union (``oneOf``) that ``value`` is an instance of."""
        schema = self.resolve(schema)
        for option in schema.get("oneOf", schema.get("anyOf", [])):
            option = self.resolve(option)
            properties = option.get("properties", {})
            if isinstance(value, dict) and all(
                value.get(name) in (prop.get("const"), *prop.get("enum", ()))
                for name, prop in properties.items()
                if "const" in prop or "enum" in prop
            ) and properties:
                return option
        return schema

    def body_fields(self, schema: dict[str, Any], value: Any,
                    path: BodyPath = ()) -> Iterator[tuple[BodyPath, str]]:
        """(path in the body, class) of every field of ``schema``, descending into the objects
        and lists of objects the valid ``value`` holds."""
        schema = self.variant_for(schema, value)
        for name, prop in schema.get("properties", {}).items():
            kind = self.field_class(prop)
            if kind is not None:
                yield (*path, name), kind
            child = value.get(name) if isinstance(value, dict) else None
            inner = self.resolve(prop)
            if isinstance(child, dict):
                yield from self.body_fields(inner, child, (*path, name))
            elif isinstance(child, list) and child:
                items = next((self.resolve(s).get("items") for s in inner.get("anyOf", [inner])
                              if self.resolve(s).get("type") == "array"), None)
                if items is None:
                    continue
                if isinstance(child[0], dict):
                    yield from self.body_fields(items, child[0], (*path, name, 0))
                elif self.field_class(items) is not None:
                    yield (*path, name, 0), str(self.field_class(items))


def with_value(body: Any, path: BodyPath, value: Any) -> Any:
    """A deep copy of ``body`` with the field at ``path`` set to ``value``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


class Browser:
    """An httpx client signed in to the dashboard with the operator key (cookies by hand: the
    session cookie is Secure, and the test server speaks plain HTTP). ``server`` is any test
    server with ``anonymous()`` and ``operator_key``."""

    def __init__(self, server: Any) -> None:
        self.client = server.anonymous()
        self.cookie = ""
        page = self.get("/")
        response = self.client.post("/signin", data={
            "csrf_token": self.csrf(page.text), "key": server.operator_key, "next": "/app"},
            headers={"Cookie": self.cookie})
        self.remember(response)
        assert response.status_code == 303, response.text[:300]

    def remember(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            self.cookie = header.split(";", 1)[0]

    @staticmethod
    def csrf(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, html[:300]
        return found.group(1)

    def get(self, path: str, **params: str) -> httpx.Response:
        response = self.client.get(path, params=params, headers={"Cookie": self.cookie})
        self.remember(response)
        return response

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        response = self.client.post(path, data=data, headers={"Cookie": self.cookie})
        self.remember(response)
        return response
