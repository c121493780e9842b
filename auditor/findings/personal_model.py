"""findings.json's `personalisation` block as frozen types: dispersion of what users pay for the same purchase,
its persistence across weeks, and the user attributes behind it (built by auditor.findings.personal)."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.findings.model import Plain, read, read_all


@dataclass(frozen=True)
class Dispersion(Plain):
    """How far purchases of the same cell are from their cell's typical price (log scale)."""

    cells: int | None = None
    users: int | None = None
    purchases: int | None = None
    above_rounding: float | None = None
    below_rounding: float | None = None
    above_materiality: float | None = None
    below_materiality: float | None = None
    p10: float | None = None
    p90: float | None = None
    deviation_sd: float | None = None
    repeat_pairs: int | None = None
    noise_sd: float | None = None
    noise_deviation_sd: float | None = None
    between_user_sd: float | None = None
    f_statistic: float | None = None
    df_between: int | None = None
    df_within: int | None = None
    p_value: float | None = None
    spread: float | None = None


@dataclass(frozen=True)
class Persistence(Plain):
    """Whether the same users pay more in both halves of their purchases (a user-level premium's sd)."""

    users: int | None = None
    cells: int | None = None
    variance: float | None = None
    se: float | None = None
    null_se: float | None = None
    correlation: float | None = None
    z: float | None = None
    p_value: float | None = None
    sd: float | None = None
    sd_low: float | None = None
    sd_high: float | None = None
    detectable_sd: float | None = None
    confidence: float | None = None
    middle80_low: float | None = None
    middle80_high: float | None = None
    detectable_middle80_high: float | None = None


@dataclass(frozen=True)
class AttributeValue(Plain):
    """One value of a user attribute: found on one half of the users, confirmed on the other."""

    column: str | None = None
    value: object = None
    users: int | None = None
    discovery: float | None = None
    discovery_p: float | None = None
    discovery_q: float | None = None
    confirmation: float | None = None
    confirmation_p: float | None = None
    confirmation_q: float | None = None
    share: float | None = None
    confirmed: bool | None = None
    premium: float | None = None


@dataclass(frozen=True)
class AttributeColumn(Plain):
    """One attribute column: how much of the user-level spread its values explain."""

    column: str | None = None
    values: int | None = None
    between_variance: float | None = None
    share: float | None = None


@dataclass(frozen=True)
class Attributes(Plain):
    """The user attributes searched, each value's premium and each column's share."""

    searched: tuple[str, ...] = ()
    alpha: float | None = None
    values: tuple[AttributeValue, ...] = ()
    columns: tuple[AttributeColumn, ...] = ()
    explained_share: float | None = None
    sample_users: int | None = None
    sample_share: float | None = None

    @classmethod
    def from_json(cls, doc):
        if not isinstance(doc, dict):
            return None
        return read(cls, doc, values=read_all(AttributeValue, doc.get("values")),
                    columns=read_all(AttributeColumn, doc.get("columns")))


@dataclass(frozen=True)
class ScannedColumn(Plain):
    """A column the attribute search looked at: its users, how constant within them, about how many values,
    and why it was searched or not (kept, varies_within_users, too_many_values, one_value, empty)."""

    column: str | None = None
    users: int | None = None
    constant_share: float | None = None
    values: int | None = None
    why: str | None = None
    kept: bool | None = None


@dataclass(frozen=True)
class Disclosure:
    """With [columns] disclosed: the block reads the undisclosed purchases; `disclosed` the disclosed ones."""

    column: str | None = None
    purchases_undisclosed: int | None = None
    purchases_disclosed: int | None = None
    disclosed: Personalisation | None = None

    def to_json(self) -> dict:
        return {"column": self.column, "purchases_undisclosed": self.purchases_undisclosed,
                "purchases_disclosed": self.purchases_disclosed,
                "disclosed": None if self.disclosed is None else {
                    k: v for k, v in self.disclosed.to_json().items() if k not in ("schema", "scan", "disclosure")}}

    @classmethod
    def from_json(cls, doc):
        if not isinstance(doc, dict):
            return None
        return read(cls, doc, disclosed=Personalisation.from_json(doc.get("disclosed")))


@dataclass(frozen=True)
class Personalisation(Plain):
    """Is pricing personalised? The reading and the three analyses behind it."""

    schema: int | None = None
    reading: str | None = None
    split: str | None = None  # the unit each user's purchases are split by: "week", "day" or "cell"
    split_requested: str | None = None  # [personalisation] split (auto: by week when the log allows, else by day)
    seed: int | None = None
    alpha: float | None = None
    materiality: float | None = None
    dispersion: Dispersion = Dispersion()
    persistence: Persistence = Persistence()
    attributes: Attributes | None = None
    scan: tuple[ScannedColumn, ...] = ()  # every column the attribute search looked at
    disclosure: Disclosure | None = None

    @classmethod
    def from_json(cls, doc):
        if not isinstance(doc, dict):
            return None
        return read(cls, doc, dispersion=Dispersion.from_json(doc.get("dispersion")) or Dispersion(),
                    persistence=Persistence.from_json(doc.get("persistence")) or Persistence(),
                    attributes=Attributes.from_json(doc.get("attributes")),
                    scan=read_all(ScannedColumn, doc.get("scan")), disclosure=Disclosure.from_json(doc.get("disclosure")))
