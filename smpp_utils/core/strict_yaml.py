"""YAML as ``yaml.safe_load`` reads it, but a mapping that states a key twice is refused.

PyYAML keeps the last of two equal keys silently (``epochs: 3, epochs: 30`` reads as 30), and
DVC refuses the same file later, after ``check`` passed. Here every duplicate is reported
with its dotted path and lines (``ci.jrpp.epochs: duplicate key (lines 140 and 141)``).
A key that a merge (``<<: *anchor``) brings in and the mapping then restates is an override,
not a duplicate: that is how params.yaml's profiles state their deltas.
"""

from __future__ import annotations

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError, ValueError):
    """One line per duplicated key, each naming its dotted path and its lines."""


def _key_text(node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag}>"


def duplicate_keys(node, path: str = "", seen=None) -> list[str]:
    """``path.key: duplicate key (lines a and b)`` for every mapping of the node graph that
    states a key twice (merged keys excluded)."""
    seen = set() if seen is None else seen
    if id(node) in seen:                 # an alias: already walked where its anchor is
        return []
    seen.add(id(node))
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = _key_text(key_node)
            where = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in first:
                out.append(f"{where}: duplicate key (lines {first[key]} and {line}); "
                           "YAML would keep only the last")
            else:
                first[key] = line
            out += duplicate_keys(value_node, where, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += duplicate_keys(item, f"{path}[{i}]", seen)
    return out


def safe_load(stream, source: str | None = None):
    """``yaml.safe_load(stream)``, refusing duplicate keys (:class:`DuplicateKeyError`, its
    message prefixed by ``source`` when given)."""
    text = stream.read() if hasattr(stream, "read") else stream
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    dups = duplicate_keys(node)
    if dups:
        raise DuplicateKeyError((f"{source}: " if source else "") + "; ".join(dups))
    return yaml.safe_load(text)
