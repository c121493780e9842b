"""Display names for the report (`[labels]`): a column's, value's, segment's or the audit's name in each
report language. Labels are shown, never parsed back into data."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import AuditConfigError
from auditor.vocabulary import LANGUAGES


@dataclass(frozen=True)
class DisplayName:
    """A column's or value's name in each report language (missing languages fall back to the raw name),
    and for binned columns the unit of the bin width."""

    text: tuple[tuple[str, str], ...] = ()  # (language, text)
    unit: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        out = dict(self.text)
        if self.unit:
            out["unit"] = dict(self.unit)
        return out


@dataclass(frozen=True)
class Labels:
    """Display names for the report (`[labels]`): labels are shown, never parsed back into data."""

    columns: tuple[tuple[str, DisplayName], ...] = ()
    values: tuple[tuple[str, tuple[tuple[str, DisplayName], ...]], ...] = ()
    segments: tuple[tuple[str, DisplayName], ...] = ()  # by segment name
    audit: tuple[tuple[str, DisplayName], ...] = ()  # the report's title and platform: "name", "platform"

    def to_json(self) -> dict:
        """As findings.json's `audit.labels`: {"columns": {col: {lang: text, "unit": {...}}},
        "values": {col: {value: {lang: text}}}, "segments": {name: {lang: text}}}, and "audit":
        {"name": {lang: text}, "platform": {lang: text}} when `[labels.audit]` is given."""
        doc = {"columns": {c: name.to_json() for c, name in self.columns},
               "values": {c: {v: name.to_json() for v, name in values} for c, values in self.values},
               "segments": {n: name.to_json() for n, name in self.segments}}
        if self.audit:
            doc["audit"] = {key: name.to_json() for key, name in self.audit}
        return doc


_LABEL_EXAMPLE = 'e.g. car_level = { en = "car class", zh-CN = "车型" }'


def _display_name(value, where: str, unit_allowed: bool) -> DisplayName:
    """A label: one string for every language, or a table of languages (and, for columns, a unit)."""
    if isinstance(value, str) and value.strip():
        return DisplayName(text=tuple((language, value) for language in LANGUAGES))
    if not isinstance(value, dict):
        raise AuditConfigError(f"[labels] {where} must be a string or a table of languages: {_LABEL_EXAMPLE}")
    known = (*LANGUAGES, "unit") if unit_allowed else LANGUAGES
    for key in value:
        if key not in known:
            raise AuditConfigError(f"[labels] {where}: unknown key {key!r}: use {', '.join(known)}")
    text = []
    for language in LANGUAGES:
        if language in value:
            if not isinstance(value[language], str) or not value[language].strip():
                raise AuditConfigError(f"[labels] {where}.{language} must be a non-empty string, got {value[language]!r}")
            text.append((language, value[language]))
    unit = ()
    if "unit" in value:
        unit = _display_name(value["unit"], f"{where}.unit", unit_allowed=False).text
    return DisplayName(text=tuple(text), unit=unit)


def labels_from_table(table: dict) -> Labels:
    """The `[labels]` table (its own keys already checked) as `Labels`."""
    columns = table.get("columns", {})
    values = table.get("values", {})
    segments = table.get("segments", {})
    if not all(isinstance(t, dict) for t in (columns, values, segments)):
        raise AuditConfigError(f"[labels] columns, values and segments must be tables: [labels.columns] {_LABEL_EXAMPLE}")
    parsed_values = []
    for column, names in values.items():
        if not isinstance(names, dict):
            raise AuditConfigError(f"[labels.values] {column} must be a table of values, "
                                   f'e.g. [labels.values.{column}] followed by ios = {{ en = "iOS", zh-CN = "iOS" }}')
        parsed_values.append((column, tuple((str(v), _display_name(name, f"values.{column}.{v}", False))
                                            for v, name in names.items())))
    audit = table.get("audit", {})
    if not isinstance(audit, dict) or any(key not in ("name", "platform") for key in audit):
        raise AuditConfigError('[labels.audit] holds the report\'s title and platform in each language: '
                               'name = { zh-CN = "网约车价格审计" }, platform = { zh-CN = "示例出行" }')
    return Labels(columns=tuple((c, _display_name(name, f"columns.{c}", True)) for c, name in columns.items()),
                  values=tuple(parsed_values),
                  segments=tuple((n, _display_name(name, f"segments.{n}", False)) for n, name in segments.items()),
                  audit=tuple((key, _display_name(name, f"audit.{key}", False)) for key, name in audit.items()))
