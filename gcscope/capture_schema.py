"""Reading a capture safely: JSON that is finite and shallow, then the documented schema.

`capture.schema.json` (beside this module, shipped in the wheel) is the capture's
contract: every field gcscope writes, with its type, whether it is required and
its range. Fields it does not name are allowed, so captures can grow; the fields
it names are checked strictly, so `report`, `check`, `diff` and `cycles` never meet
a value they cannot use. The schema is applied with fastjsonschema, which compiles
it to Python once per process: on a capture with 20,000 stored collections it
takes ~40 ms where `jsonschema` takes ~730 ms (docs/capture.md).

Three things JSON Schema cannot say are checked here, before the schema:
* NaN, Infinity and numbers too large for a float (`1e400`) are not numbers: Python's
  json reads them anyway, and every comparison with them is false (NaN passes any
  limit);
* a document nested deeper than `MAX_DEPTH` is refused (deeply nested JSON makes
  json, and anything walking the data, run out of stack);
* a number written with a fraction or exponent (`5.0`, `1e3`) is never an integer,
  though JSON Schema says it is: gcscope writes counts as integers, and code that
  reads a count (`f"{n:+d}"`, a list index) needs one.

Every problem is one `UsageError` naming the file and the field, as a JSON path.
Only the commands that read captures import this module: never `gcscope run`,
which reports from the capture it has just built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from gcscope.errors import UsageError
from gcscope.reporters.formatting import printable

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capture.schema.json")
MAX_DEPTH = 64  # the deepest capture field today is 6 levels down
_validators: dict[bool, Callable[[Any], Any]] = {}


class _JsonFloat(float):
    """A JSON number written with a fraction or exponent: never an integer to the schema.

    fastjsonschema (as JSON Schema says) counts `5.0` as an integer, and asks the value
    `is_integer()`; this answers no.
    """

    __slots__ = ()

    def is_integer(self) -> bool:
        return False


class _NotFinite:
    """What NaN, Infinity and `1e400` parse to, until `_find` reports where they are."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def parse(text: str, source: str) -> Any:
    """JSON text -> Python, refusing non-finite numbers and over-deep nesting."""
    not_finite: list[_NotFinite] = []

    def constant(name: str) -> _NotFinite:
        not_finite.append(_NotFinite(name))
        return not_finite[-1]

    def number(literal: str) -> float | _NotFinite:
        value = float(literal)
        if value in (float("inf"), float("-inf")):
            return constant(literal)
        return _JsonFloat(value)

    try:
        data = json.loads(text, parse_constant=constant, parse_float=number)
    except RecursionError:
        raise _bad(source, f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise UsageError(f"{source}: not a gcscope capture (invalid JSON: {exc})") from None
    if not_finite:
        path, value = _find(data, lambda item: isinstance(item, _NotFinite))
        raise _bad(source, f"{path}: {value.text[:40]} is not a finite number")
    if _too_deep(data):
        path, _ = _find(data, None)
        raise _bad(source, f"{path}: nested more than {MAX_DEPTH} levels deep")
    return data


def validate(data: Any, source: str, newest: int) -> None:
    """Check parsed data against the schema; `newest` is the schema_version this reads."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if type(version) is int and version > newest:
        raise UsageError(
            f"{source}: capture schema_version {version} is newer than this gcscope reads "
            f"({newest}); upgrade gcscope"
        )
    from fastjsonschema import JsonSchemaValueException

    try:
        _validator(detailed=False)(data)
    except JsonSchemaValueException:
        try:  # the same check again, now saying what and where
            _validator(detailed=True)(data)
        except JsonSchemaValueException as exc:
            raise _bad(source, _describe(exc)) from None
        raise  # the two validators disagree: a bug, not the capture's fault


def _validator(detailed: bool) -> Callable[[Any], Any]:
    """The schema compiled once per process. Without details (which values, which rule)
    the generated code is half the size and compiles in ~40% of the time: that one is
    for every capture, the detailed one only to describe a capture already refused."""
    if detailed not in _validators:
        import fastjsonschema

        with open(SCHEMA_PATH, encoding="utf-8") as handle:
            schema = json.load(handle)
        _validators[detailed] = fastjsonschema.compile(schema, detailed_exceptions=detailed)
    return _validators[detailed]


def _bad(source: str, what: str) -> UsageError:
    return UsageError(f"{source}: not a valid gcscope capture: {printable(what)}")


def _too_deep(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        items = value.values() if type(value) is dict else value
        for item in items:
            if type(item) is dict or type(item) is list:
                if depth >= MAX_DEPTH:
                    return True
                stack.append((item, depth + 1))
    return False


def _find(data: Any, wanted: Callable[[Any], bool] | None) -> tuple[str, Any]:
    """The JSON path of the first value `wanted` picks, or of the first one too deep."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if wanted is not None and wanted(value):
            return path or "(the document)", value
        container = type(value) is dict or type(value) is list
        if container and wanted is None and depth > MAX_DEPTH:
            return path, value
        if type(value) is dict:
            children = [(f"{path}.{k}" if path else str(k), item) for k, item in value.items()]
        elif type(value) is list:
            children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
        else:
            continue
        stack.extend((item, child, depth + 1) for child, item in reversed(children))
    return "(the document)", data


_ARTICLE = {"integer": "an integer", "object": "an object", "array": "an array"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}" if abs(value) < 10**20 else "a huge integer"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return "an array" if isinstance(value, list) else "an object"


def _describe(error: Any) -> str:
    """fastjsonschema's error as `path must be ... (found ...)`."""
    path = error.name[len("data") :].lstrip(".") or "the capture"
    rule, definition, value = error.rule, error.definition or {}, error.value
    if rule == "required" and isinstance(value, dict):
        missing = [key for key in definition.get("required", []) if key not in value]
        where = "" if path == "the capture" else f" in {path}"
        return f"missing {missing[0]!r}{where}" if missing else error.message
    if rule == "type":
        kinds = definition.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        expected = " or ".join(_ARTICLE.get(kind, f"a {kind}") for kind in kinds)
        expected = expected.replace("a null", "null")
        return f"{path} must be {expected} (found {_json_type(value)})"
    if rule in ("minimum", "maximum"):
        bound = definition[rule]
        relation = "at least" if rule == "minimum" else "at most"
        return f"{path} must be {relation} {bound:g} (found {_json_type(value)})"
    if rule in ("minItems", "maxItems"):
        relation = "at least" if rule == "minItems" else "at most"
        return f"{path} must have {relation} {definition[rule]} items (found {len(value)})"
    if rule == "pattern":
        return f"{path} is malformed (found {_json_type(value)})"
    if rule == "contains":
        wanted = definition.get("contains", {}).get("enum", ["?"])[0]
        return f"{path} lacks {wanted!r}"
    return error.message.replace("data.", "", 1).replace("data ", "the capture ", 1)
