"""The YAML configuration file (``--config FILE``): every setting, plus the fleet's upstreams.

The file is a mapping of setting names (the ``Settings`` field names: ``port``, ``api_keys``,
``upstreams``, ``aliases``, ...) to values. Flags and environment variables override it. Strings
may name environment variables as ``${NAME}`` (for credentials kept in a Kubernetes Secret);
``$$`` is a literal ``$``.

Every value keeps the line it came from, so that a mistake is reported as
``gateway.yaml:12: upstreams[1].url: ...``: :func:`read_config` reports syntax errors, unknown
settings and unset variables that way, and :meth:`ConfigFile.explain` turns pydantic's
validation errors (whose locations are paths such as ``("upstreams", 1, "url")``) into lines.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

MAX_CONFIG_BYTES = 1 << 20
MAX_VALUES = 100_000  # YAML aliases can make a small file expand: bounded
MAX_DEPTH = 32
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")

Location = tuple[str | int, ...]


class ConfigError(Exception):
    """The configuration file is wrong; the message names the file, the line and the field.

    Not a ``ValueError``: pydantic lets it through its validators unchanged.
    """


@dataclass
class ConfigFile:
    """A parsed configuration file: the values and, for each value, its line (1-based)."""

    path: Path
    values: dict[str, Any]
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Iterable[str | int]) -> int:
        """The line of the deepest part of ``location`` the file has (1 if none)."""
        where = tuple(location)
        while where:
            if where in self.lines:
                return self.lines[where]
            where = where[:-1]
        return 1

    def error(self, location: Iterable[str | int], message: str) -> ConfigError:
        where = tuple(location)
        return ConfigError(f"{self.path}:{self.line_of(where)}: {dotted(where)}: {message}")

    def explain(
        self, errors: Sequence[Mapping[str, Any]], from_file: set[str]
    ) -> ConfigError | None:
        """A :class:`ConfigError` for the first of pydantic's ``errors`` that is about a value
        this file gave (a top-level name in ``from_file``); None when none is."""
        for error in errors:
            location = tuple(error.get("loc", ()))
            if location and location[0] in from_file:
                return self.error(location, str(error.get("msg", "invalid value")))
        return None


def dotted(location: Iterable[str | int]) -> str:
    """``("upstreams", 1, "url")`` as ``upstreams[1].url``."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def read_config(path: Path, known: Iterable[str], environ: Mapping[str, str]) -> ConfigFile:
    """Parse ``path``: a mapping whose keys are in ``known``; ``${NAME}`` from ``environ``."""
    import yaml  # only a server with a config file needs it

    try:
        raw = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the configuration file is larger than 1 MiB")
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the configuration file is not UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem}") from None
    config = ConfigFile(path, {})
    if node is None:
        return config
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: the file must be a mapping")
    names = set(known)
    for key_node, value_node in node.value:
        key = key_node.value
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or key not in names:
            close = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}:{line}: {key}: unknown setting{hint}")
        if key in config.values:
            raise ConfigError(f"{path}:{line}: {key}: given twice")
        config.lines[(key,)] = line
        config.values[key] = _value(value_node, (key,), config, environ)
    return config


def _value(node: yaml.Node, where: Location, config: ConfigFile, environ: Mapping[str, str]):
    """The Python value of ``node``, recording each part's line under its location."""
    import yaml

    config.lines.setdefault(where, node.start_mark.line + 1)
    if len(config.lines) > MAX_VALUES or len(where) > MAX_DEPTH:
        raise config.error(where, "the configuration is too large or too deeply nested")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                raise config.error((*where, key), "given twice")
            config.lines[(*where, key)] = key_node.start_mark.line + 1
            out[key] = _value(value_node, (*where, key), config, environ)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_value(item, (*where, i), config, environ) for i, item in enumerate(node.value)]
    value = _constructed(node)
    if isinstance(value, str) and "$" in value:
        return _interpolate(value, where, config, environ)
    return value


def _constructed(node: yaml.Node) -> Any:
    """A scalar as YAML's safe loader types it (int, float, bool, null or str)."""
    import yaml

    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _interpolate(text: str, where: Location, config: ConfigFile, environ: Mapping[str, str]) -> str:
    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            return "$"
        if name not in environ:
            raise config.error(where, f"the environment variable {name} is not set")
        return environ[name]

    return _VARIABLE.sub(replace, text)
