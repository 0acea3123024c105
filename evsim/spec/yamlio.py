"""YAML reading that remembers where every mapping came from.

Mappings load as :class:`LocatedDict` (a ``dict`` with ``.line`` and ``.key_lines``) so
that validation errors can name the file and the line of the offending layer or key.
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


class _LocatingLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
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
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"no such {what}", file=str(path), fix="check the path") from None
    except OSError as err:
        raise SpecError(f"cannot read {what}: {err.strerror}", file=str(path)) from None
    try:
        return yaml.load(text, Loader=_LocatingLoader)
    except SpecError as err:
        raise SpecError(err.bare_message, file=str(path), line=err.line, fix=err.fix) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(f"malformed YAML: {problem}", file=str(path), line=line,
                        fix="fix the YAML syntax (indentation, colons, brackets)") from None
