"""Route templates as the Functions host reads them (ASP.NET Core syntax), compiled to regexes.

Supports literal segments (case-insensitive), ``{name}``, ``{name?}``, ``{name:constraint}``
(``int``, ``long``, ``bool``, ``guid``, ``alpha``, ``length(n)``; others accept any text) and the catch-all
``{*name}``. Routes are ordered by ASP.NET's precedence: literals before constrained
parameters before parameters before optional parameters before catch-alls. Pure; used by
the development host and by the fallback function that answers unknown routes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM_RE = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\(([^)]*)\))?)?(\?)?\}$")
_CONSTRAINTS = {
    "int": r"-?[0-9]{1,10}",
    "long": r"-?[0-9]{1,19}",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "alpha": r"[A-Za-z]+",
}


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    pattern: re.Pattern = field(compare=False)
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: value for name, value in found.groupdict().items() if value is not None}


def compile_route(template: str) -> RouteTemplate:
    template = template.strip("/")
    parts: list[str] = []
    ranks: list[int] = []
    for segment in template.split("/") if template else []:
        param = _PARAM_RE.match(segment)
        if param is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"route segment {segment!r} mixes text and parameters")
            parts.append("/" + re.escape(segment))
            ranks.append(1)
            continue
        star, name, constraint, argument, optional = param.groups()
        if star:
            parts.append(f"(?:/(?P<{name}>.*))?")
            ranks.append(5)
            continue
        body = _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
        if (constraint or "").lower() == "length" and (argument or "").isdigit():   # exactly n characters
            body = f"[^/]{{{int(argument)}}}"
        piece = f"/(?P<{name}>{body})"
        if optional:
            parts.append(f"(?:{piece})?")
            ranks.append(4)
        else:
            parts.append(piece)
            ranks.append(2 if constraint else 3)
    regex = "".join(parts) or ""
    return RouteTemplate(template, re.compile(regex, re.IGNORECASE), tuple(ranks))


def precedence_key(route: RouteTemplate) -> tuple:
    # Lower ranks first, segment by segment; among equals, more segments first.
    return (route.precedence, -len(route.precedence))
