"""Each row as ingest reads it: its first reject reason, and an accepted row's typed columns
(auditor.engine.ingest). Spark SQL expressions only, built from the config and the input's column types."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import functions as F
from pyspark.sql import types as T

from auditor.engine.columns import (_CORRUPT, DECLARED, DISCLOSED, DISCOUNT, EVENT, LIST, NET, PRICE, QUOTED, REQUEST,
                                    TID, TS, USER, _q)
from auditor.spec import AuditConfig
from auditor.spec.types import DISCLOSED_VALUES
from auditor.vocabulary import RejectReason

# Around a value, these count as blank: ASCII whitespace, no-break and ideographic (full-width) spaces.
BLANK = " \t\n\r\f\x0b\u00a0\u3000"
# A plain decimal number, optionally signed, with an exponent. Spark's cast alone also
# accepts Java's forms ('12.5d', '12.5f', '0x1p3'), which no price log means.
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _stripped(column: str):
    """The value as text without blank edges.

    btrim, not the two-argument trim: Spark logs a deprecation warning for every query planned with
    TRIM(str, chars), which a notebook shows under each cell."""
    return F.btrim(F.col(_q(column)).cast("string"), F.lit(BLANK))


def _as_number(column: str, dtype: T.DataType):
    if isinstance(dtype, T.NumericType):
        return F.col(_q(column)).cast("double")
    text = _stripped(column)
    return F.when(text.rlike(_DECIMAL), text.try_cast("double"))


def _as_timestamp(column: str, dtype: T.DataType, nanos: bool = False):
    col = F.col(_q(column))
    if nanos:
        return F.timestamp_micros(F.floor(col / 1000))
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        return col.cast("timestamp")
    if isinstance(dtype, T.NumericType):  # epoch seconds
        return F.timestamp_seconds(col.cast("double"))
    text = _stripped(column)
    # Spark turns 'yesterday', 'now', 'epoch' into real timestamps; a log never means those.
    return F.when(text.rlike(r"^[0-9]{4}-"), text.try_cast("timestamp"))


def _is_missing(column: str, dtype: T.DataType):
    col = F.col(_q(column))
    if isinstance(dtype, T.StringType):
        return col.isNull() | (_stripped(column) == "")
    return col.isNull()


def _is_bad_number(parsed):
    return parsed.isNull() | F.isnan(parsed) | (F.abs(parsed) == float("inf"))


def _column_types(schema: T.StructType, config: AuditConfig) -> dict[str, T.DataType]:
    """Each input column's type as ingest reads it: text formats are all text (tables and Parquet typed)."""
    if not config.input.typed:
        return {f.name: T.StringType() for f in schema.fields}
    return {f.name: f.dataType for f in schema.fields}


def _reason(config: AuditConfig, types: dict, nanos: frozenset[str]):
    """The first reject reason that applies to a row as read (null: valid), duplicates aside."""
    cols = config.columns
    numbers = [_as_number(cols.price, types[cols.price])]
    numbers += [_as_number(name, types[name]) for name, _ in config.match.bins]
    timestamp = _as_timestamp(cols.timestamp, types[cols.timestamp], cols.timestamp in nanos)

    missing = F.lit(False)
    for column in config.required_columns:
        missing = missing | _is_missing(column, types[column])
    bad_number = F.lit(False)
    for parsed in numbers:
        bad_number = bad_number | _is_bad_number(parsed)
    parts = _price_parts(config, types)
    for name in ("list_price", "net_price"):
        column = getattr(config.parts, name)
        if column:
            missing = missing | _is_missing(column, types[column])
    for column in config.parts.columns:
        raw_value = F.col(_q(column))
        bad_number = bad_number | (raw_value.isNotNull() & _is_bad_number(_as_number(column, types[column])))
    nonpositive = numbers[0] <= 0
    if parts:
        nonpositive = nonpositive | (parts[LIST] <= 0) | (parts[NET] <= 0)

    return (F.when(F.col(_CORRUPT).isNotNull(), RejectReason.MALFORMED_RECORD.value)
            .when(missing, RejectReason.MISSING_VALUE.value)
            .when(bad_number, RejectReason.UNPARSEABLE_NUMBER.value)
            .when(timestamp.isNull(), RejectReason.UNPARSEABLE_TIMESTAMP.value)
            .when(nonpositive, RejectReason.NONPOSITIVE_PRICE.value))


def _typed_columns(config: AuditConfig, types: dict, nanos: frozenset[str]) -> list:
    """An accepted row's columns as the audit reads them: roles and parts parsed, keys and segments as given.

    Group segments are compared as text (config values are text); dose segments and
    binned columns as parsed numbers (an unparseable dose leaves the row out of that segment only).
    """
    cols = config.columns
    typed = [_stripped(cols.transaction_id).alias(TID), _stripped(cols.user_id).alias(USER),
             _as_timestamp(cols.timestamp, types[cols.timestamp], cols.timestamp in nanos).alias(TS),
             _as_number(cols.price, types[cols.price]).alias(PRICE)]
    optional = {**_price_parts(config, types), **_extras(config, types)}
    typed += [optional[name].alias(name) for name in optional_internal_columns(config)]
    numeric = {name for name, _ in config.match.bins} | set(config.dose_columns)
    for name in dict.fromkeys(_key_and_segment_columns(config)):
        if name in numeric:
            value = _as_number(name, types[name])
        elif name in config.segment_columns:
            value = F.col(_q(name)).cast("string")
        else:
            value = F.col(_q(name))
        typed.append(value.alias(name))
    return typed


def _key_and_segment_columns(config: AuditConfig) -> list[str]:
    return [*config.match.exact, *(name for name, _ in config.match.bins), *config.segment_columns,
            *config.context_columns]


def _price_parts(config: AuditConfig, types: dict) -> dict:
    """List price, discount and net price; the missing one derived from the other two.

    A missing discount means none was given (0); list and net prices must be present.
    """
    parts = config.parts
    if not parts.complete:
        return {}
    given = {role: _as_number(getattr(parts, name), types[getattr(parts, name)])
             for role, name in ((LIST, "list_price"), (DISCOUNT, "discount"), (NET, "net_price")) if getattr(parts, name)}
    if DISCOUNT in given:
        given[DISCOUNT] = F.coalesce(given[DISCOUNT], F.lit(0.0))
    if LIST not in given:
        given[LIST] = given[NET] + given[DISCOUNT]
    if NET not in given:
        given[NET] = given[LIST] - given[DISCOUNT]
    if DISCOUNT not in given:
        given[DISCOUNT] = given[LIST] - given[NET]
    return given


def _extras(config: AuditConfig, types: dict) -> dict:
    """Quote fields and the declared-adjustment flag, as typed internal columns."""
    out = {}
    quotes = config.quotes
    if quotes:
        out[EVENT] = F.trim(F.col(_q(quotes.event_column)).cast("string"))
        if quotes.quoted_price:
            out[QUOTED] = _as_number(quotes.quoted_price, types[quotes.quoted_price])
        if quotes.request_id:
            out[REQUEST] = F.col(_q(quotes.request_id)).cast("string")
    if _reads_disclosure(config):  # the consumer was told the price was personalised: true, 1, yes, y or t
        flag = F.lower(_stripped(config.columns.disclosed))
        out[DISCLOSED] = F.coalesce(flag.isin(*DISCLOSED_VALUES), F.lit(False))
    if config.adjustments:
        out[DECLARED] = reduce(lambda a, b: a | b, [
            F.coalesce(F.col(_q(a.column)).cast("string") == a.value, F.lit(False)) for a in config.adjustments])
    return out


def optional_internal_columns(config: AuditConfig) -> list[str]:
    """The internal columns _classify adds for this config."""
    cols = [LIST, DISCOUNT, NET] if config.parts.complete else []
    if config.quotes:
        cols.append(EVENT)
        cols += [QUOTED] if config.quotes.quoted_price else []
        cols += [REQUEST] if config.quotes.request_id else []
    if config.adjustments:
        cols.append(DECLARED)
    if _reads_disclosure(config):
        cols.append(DISCLOSED)
    return cols


def _reads_disclosure(config: AuditConfig) -> bool:
    return bool(config.columns.disclosed) and config.personalisation.enabled
