"""Schema evolution check: is the current JSON Schema of an event compatible with the released one?

Pure: compares two JSON Schema documents (as produced by pydantic, with `$defs` and `$ref`) and
lists the breaking changes. Versions must be additive: a consumer built on the released schema
must still read every new message, and a new consumer must still read every released message.
Breaking:

- a field removed;
- an optional field made required, or a new required field;
- a narrowed type: a type removed from a union, an enum value removed, a const changed,
  a bound tightened (maxLength / maxItems / maximum lowered, minLength / minItems / minimum
  raised, or added), a pattern or format changed or added, unknown fields newly forbidden.

Additive (allowed): new optional fields, types added to a union, enum values added, bounds
relaxed, descriptions, titles and defaults changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
EXACT_KEYWORDS = ("pattern", "format", "const")
MAX_DEPTH = 32


@dataclass(frozen=True)
class BreakingChange:
    """One incompatible difference, located by the dotted path of the field."""

    event: str
    field: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.event}: field '{self.field}': {self.kind} ({self.detail})"


def compare(event: str, released: Schema, current: Schema) -> list[BreakingChange]:
    """The breaking changes from `released` to `current` for `event` (empty: compatible)."""
    walker = _Walker(event, released, current)
    walker.node("", released, current)
    return walker.changes


def compare_all(
    released: Mapping[str, Schema], current: Mapping[str, Schema]
) -> list[BreakingChange]:
    """Compare every released event; an event that disappeared is itself a breaking change."""
    out: list[BreakingChange] = []
    for event in sorted(released):
        if event not in current:
            out.append(BreakingChange(event, "(event)", "event removed", "no current schema"))
            continue
        out.extend(compare(event, released[event], current[event]))
    return out


def _type_names(schema: Schema) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return set()


class _Walker:
    def __init__(self, event: str, old_root: Schema, new_root: Schema) -> None:
        self.event = event
        self.old_root = old_root
        self.new_root = new_root
        self.changes: list[BreakingChange] = []
        self._active: set[tuple[str, str]] = set()

    def report(self, path: str, kind: str, detail: str) -> None:
        self.changes.append(BreakingChange(self.event, path or "(root)", kind, detail))

    @staticmethod
    def resolve(root: Schema, schema: Schema) -> Schema:
        for _ in range(64):
            ref = schema.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return schema
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            merged = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **merged} if isinstance(target, Mapping) else merged
        return schema

    def branches(self, root: Schema, schema: Schema) -> list[Schema]:
        schema = self.resolve(root, schema)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list):
                out: list[Schema] = []
                for option in options:
                    if isinstance(option, Mapping):
                        out.extend(self.branches(root, option))
                return out
        return [schema]

    @staticmethod
    def signature(schema: Schema) -> str:
        names = _type_names(schema)
        if names:
            return "|".join(sorted(names))
        if "properties" in schema:
            return "object"
        if "enum" in schema or "const" in schema:
            return "value"
        return "any"

    def node(self, path: str, old: Schema, new: Schema) -> None:
        if path.count(".") + path.count("[]") >= MAX_DEPTH:
            return  # a recursive schema, unrolled far enough
        refs = (str(old.get("$ref")), str(new.get("$ref")))
        recursive = "$ref" in old and "$ref" in new
        if recursive:
            if refs in self._active:
                return  # a recursive schema: this pair is already being compared above
            self._active.add(refs)
        try:
            self._branches(path, old, new)
        finally:
            if recursive:
                self._active.discard(refs)

    def _branches(self, path: str, old: Schema, new: Schema) -> None:
        old_branches = self.branches(self.old_root, old)
        new_branches = self.branches(self.new_root, new)
        by_sig: dict[str, Schema] = {}
        for branch in new_branches:
            by_sig.setdefault(self.signature(branch), branch)
        accepts_anything = any(self.signature(b) == "any" and not b for b in new_branches)
        for branch in old_branches:
            sig = self.signature(branch)
            match = by_sig.get(sig) or self._covering(sig, by_sig)
            if match is None:
                if not accepts_anything:
                    self.report(path, "narrowed type", f"type {sig} is no longer accepted")
                continue
            self.single(path, branch, match)

    @staticmethod
    def _covering(sig: str, by_sig: Mapping[str, Schema]) -> Schema | None:
        """A new branch accepting every value of an old branch with signature `sig`."""
        wanted = set(sig.split("|"))
        for new_sig, branch in by_sig.items():
            if wanted <= set(new_sig.split("|")):
                return branch
            if sig == "integer" and "number" in new_sig.split("|"):
                return branch
        return None

    def single(self, path: str, old: Schema, new: Schema) -> None:
        self.keywords(path, old, new)
        self.enum(path, old, new)
        self.object(path, old, new)
        for key, suffix in (("items", "[]"),):
            old_items, new_items = old.get(key), new.get(key)
            if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
                self.node(f"{path}{suffix}", old_items, new_items)
            elif isinstance(new_items, Mapping) and old_items is None:
                self.report(path, "narrowed type", f"{key} now constrained")

    def keywords(self, path: str, old: Schema, new: Schema) -> None:
        for key in UPPER_BOUNDS:
            if key in new and (key not in old or new[key] < old[key]):
                was = old.get(key, "none")
                self.report(path, "narrowed type", f"{key} lowered from {was} to {new[key]}")
        for key in LOWER_BOUNDS:
            if key in new and (key not in old or new[key] > old[key]):
                was = old.get(key, "none")
                self.report(path, "narrowed type", f"{key} raised from {was} to {new[key]}")
        for key in EXACT_KEYWORDS:
            if key in new and old.get(key) != new[key]:
                was = old.get(key, "none")
                self.report(path, "narrowed type", f"{key} changed from {was!r} to {new[key]!r}")

    def enum(self, path: str, old: Schema, new: Schema) -> None:
        if "enum" not in new:
            return
        old_values = old.get("enum")
        if old_values is None:
            if "const" in old:
                old_values = [old["const"]]
            else:
                self.report(path, "narrowed type", f"now restricted to {new['enum']!r}")
                return
        removed = [v for v in old_values if v not in new["enum"]]
        if removed:
            self.report(path, "enum value removed", f"{removed!r} no longer accepted")

    def object(self, path: str, old: Schema, new: Schema) -> None:
        old_props: Mapping[str, Schema] = old.get("properties") or {}
        new_props: Mapping[str, Schema] = new.get("properties") or {}
        if not old_props and not new_props:
            self.additional(path, old, new)
            return
        old_required = set(old.get("required") or ())
        new_required = set(new.get("required") or ())
        for name in old_props:
            field = f"{path}.{name}" if path else name
            if name not in new_props:
                self.report(field, "removed field", "present in the released schema")
                continue
            if name in new_required and name not in old_required:
                self.report(field, "optional made required", "was optional when released")
            self.node(field, old_props[name], new_props[name])
        for name in new_props:
            if name not in old_props and name in new_required:
                field = f"{path}.{name}" if path else name
                self.report(field, "new required field", "released messages lack it")
        self.additional(path, old, new)

    def additional(self, path: str, old: Schema, new: Schema) -> None:
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if new_extra is False and old_extra is not False:
            self.report(path, "narrowed type", "unknown fields are now forbidden")
        elif isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.node(f"{path}.*" if path else "*", old_extra, new_extra)
