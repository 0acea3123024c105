"""YAML reading that remembers where every mapping came from, within limits.

Mappings load as :class:`LocatedDict` (a ``dict`` with ``.line`` and ``.key_lines``) so
that validation errors can name the file and the line of the offending layer or key.

Every file evsim reads as YAML (specs, rates, profiles, claims) passes the same limits, so
no file can exhaust the machine: at most ``MAX_BYTES`` of UTF-8 text, ``MAX_ALIASES``
aliases, ``MAX_NODES`` values once every alias is expanded (a 1 KB "billion laughs" file
expands to 10⁹), nesting at most ``MAX_DEPTH`` deep, and no alias that contains itself.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import SpecError


class LocatedDict(dict):
    """A dict that knows the 1-based line it starts on and the line of each key."""

    line: int = 0
    key_lines: dict

    def line_of(self, key) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LocatedList(list):
    line: int = 0


MAX_BYTES = 4 << 20
MAX_ALIASES = 10_000
MAX_NODES = 1_000_000
MAX_DEPTH = 100


class _LocatingLoader(yaml.SafeLoader):
    aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise SpecError(f"more than {MAX_ALIASES} aliases", line=mark.line + 1, fix="write the values out")
        return super().compose_node(parent, index)

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return self.construct_document(node)


def expanded_size(root) -> int:
    """Values in the document once every alias is expanded (memoised per node, so a bomb is
    measured without being expanded); refuses cycles, nesting past MAX_DEPTH and sizes past
    MAX_NODES."""
    sizes, open_nodes = {}, set()

    def size(node, depth):
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if key in open_nodes:
            raise SpecError("an alias refers to a value that contains it", line=line, fix="remove the recursive alias")
        if depth > MAX_DEPTH:
            raise SpecError(f"values nest more than {MAX_DEPTH} deep", line=line, fix="flatten the structure")
        open_nodes.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise SpecError(f"the document expands to more than {MAX_NODES:,} values (aliases included)", line=line,
                            fix="a spec, rates or profile file is small: check for aliases of aliases")
        sizes[key] = total
        return total

    return size(root, 0)


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise SpecError("a mapping key must be a plain value (a name or a number), not a list or mapping",
                            line=key_node.start_mark.line + 1) from None
        if key in result:
            raise SpecError(f"duplicate key '{key}'", line=key_node.start_mark.line + 1,
                            fix="each key may appear once per mapping")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader, node, deep=False):
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: str | Path, what: str = "file"):
    """Parse a YAML file; syntax errors and missing files become :class:`SpecError`."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise SpecError(f"the {what} must be a path, got {path!r:.60}")
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"no such {what}", file=str(path), fix="check the path") from None
    except OSError as err:
        raise SpecError(f"cannot read {what}: {err.strerror or err}", file=str(path)) from None
    except ValueError as err:  # a NUL in the name
        raise SpecError(f"cannot read {what}: {err}", file=repr(str(path))) from None
    if len(data) > MAX_BYTES:
        raise SpecError(f"the {what} is larger than {MAX_BYTES >> 20} MiB", file=str(path), fix="is this the right file?")
    try:
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(f"the {what} is not UTF-8 text (byte {err.start})", file=str(path),
                        fix="save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_LocatingLoader)
    except SpecError as err:
        raise SpecError(err.bare_message, file=str(path), line=err.line, fix=err.fix) from None
    except RecursionError:
        raise SpecError("values nest too deeply", file=str(path), fix="flatten the structure") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(f"malformed YAML: {problem}", file=str(path), line=line,
                        fix="fix the YAML syntax (indentation, colons, brackets)") from None
