"""The one TOML writer: config values and tables as TOML text.

`Audit.from_dict` writes a dict shaped like audit.toml (`to_toml`), `auditor generate` writes the
configs of its synthetic logs (`tables`), and `auditor init` writes its commented starter config
with the same strings and keys (`string`, `key`). The text written is what `parse_config` reads
back, so one set of rules for quoting keeps the three alike.
"""

from __future__ import annotations

import math
from pathlib import Path

from auditor.errors import AuditConfigError


def to_toml(settings: dict) -> str:
    """A config dict as TOML text: tables, arrays of tables, strings, numbers, booleans and lists."""
    if not isinstance(settings, dict):
        raise AuditConfigError(f"an audit config must be a dict of tables, got {type(settings).__name__}")
    blocks: list[tuple[str | None, dict]] = []
    scalars = {k: v for k, v in settings.items() if not _is_table(v) and not _is_table_array(v)}
    if scalars:
        blocks.append((None, scalars))
    for name, value in settings.items():
        if _is_table(value):
            _nested(blocks, [name], value)
        elif _is_table_array(value):
            for item in value:
                # inside an array of tables an inline table keeps it simple: its plain values first
                body = {k: v for k, v in item.items() if not _is_table(v)}
                body.update({k: v for k, v in item.items() if _is_table(v)})
                blocks.append((f"[[{key(name)}]]", body, [name]))
    return tables(blocks) or "\n"


def tables(blocks) -> str:
    """TOML text of (header, {key: value}) blocks in order, a blank line between them; a header of
    None writes its keys bare (the document's top level). A third item, the key path, names the
    place of a value that cannot be written."""
    text = []
    for header, items, *path in blocks:
        where = path[0] if path else ([header.strip("[]")] if header else [])
        lines = [header] if header else []
        lines += [f"{key(k)} = {value(v, '.'.join(map(str, [*where, k])))}" for k, v in items.items()]
        text.append("".join(line + "\n" for line in lines))
    return "\n".join(text)


def _nested(blocks: list, path: list[str], table: dict) -> None:
    """A table and then its subtables, each under its dotted header."""
    blocks.append((f"[{'.'.join(map(key, path))}]", {k: v for k, v in table.items() if not _is_table(v)}, path))
    for name, value in table.items():
        if _is_table(value):
            _nested(blocks, [*path, name], value)


def _is_table(value) -> bool:
    return isinstance(value, dict)


def _is_table_array(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def key(name) -> str:
    """A key, bare when it can be (letters, digits, _ and -), else quoted."""
    name = str(name)
    return name if name.replace("_", "a").replace("-", "a").isalnum() and name.isascii() else string(name)


def string(text: str) -> str:
    """A TOML basic string; every control character escaped."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + "".join(c if ord(c) >= 0x20 and ord(c) != 0x7f else f"\\u{ord(c):04x}" for c in escaped) + '"'


def value(item, where: str) -> str:
    """A TOML value: text, a number, true/false, a list or an inline table."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        if isinstance(item, float) and not math.isfinite(item):
            raise AuditConfigError(f"{where} = {item!r}: a config number must be finite")
        return repr(item)
    if isinstance(item, (str, Path)):
        return string(str(item))
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(v, where) for v in item) + "]"
    if isinstance(item, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(v, f'{where}.{k}')}" for k, v in item.items()) + " }"
    raise AuditConfigError(f"{where} = {item!r}: a config value must be text, a number, true/false or a list")
