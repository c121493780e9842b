"""`auditor init`, writing: the starter config's text, each proposal with the numbers behind it, written
through the config's TOML writer (auditor.spec.write) and never over an existing file unless asked."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from auditor.errors import AuditConfigError
from auditor.spec.write import key, string
from auditor.starter.profile import SAMPLE_ROWS, Profile, read_sample
from auditor.starter.propose import Proposal, propose, reference_value


# --- writing ------------------------------------------------------------------------------------------

def render(proposal: Proposal, config_dir: Path) -> str:
    """The starter config's text: each proposal with its numbers, alternatives commented out."""
    out = _head(proposal, config_dir) + _columns(proposal) + _match(proposal) + _segments(proposal)
    out += _doses(proposal) + _adjustments(proposal) + _events(proposal)
    out += ["", "[test]", "alpha = 0.05", "materiality = 0.01", ""]
    if proposal.notes:
        out += [f"# Note: {note}" for note in proposal.notes] + [""]
    return "\n".join(out)


def _shown_path(path: str, config_dir: Path) -> str:
    """The input path as the config shows it: relative to the config's folder where it can be."""
    if not os.path.isabs(path) or "://" in path:
        return path
    try:
        return os.path.relpath(path, config_dir)
    except ValueError:  # another drive
        return path


def _head(proposal: Proposal, config_dir: Path) -> list[str]:
    """What the file is, [audit] with its TODOs, and [input]."""
    path = proposal.input_path
    return [
        "# Starter audit config proposed by `auditor init` from the first "
        f"{proposal.sample_rows:,} rows of {path}.",
        "# Every value below is a proposal: check each against what you know of the platform before running.",
        "# The numbers after each proposal are what it rests on. Alternatives are commented out.",
        "# A sample from the start of the log may miss rare values; `auditor run` checks every row.",
        "",
        "[audit]",
        'name = "TODO: name this audit"',
        'platform = "TODO: the platform audited"',
        "",
        "[input]",
        f"path = {_q(_shown_path(path, config_dir))}",
        f"format = {_q(proposal.input_format)}",
        *([f"csv_delimiter = {_q(proposal.delimiter)}"] if proposal.delimiter != "," else []),
        "",
        "[columns]",
    ]


# What each role's proposal rests on, in the order the roles are written.
ROLE_REASONS = {
    "transaction_id": lambda p: f"{p.unique_share:.1%} unique; " + p.numbers(),
    "user_id": lambda p: f"{p.distinct:,} users, {p.rows / max(p.distinct, 1):.1f} rows each; " + p.numbers(),
    "timestamp": lambda p: f"{p.kind}{' with time of day' if p.has_time_of_day else ''}; " + p.numbers(),
    "price": lambda p: f"positive {p.kind}, 10–90 % range {_range(p)}; " + p.numbers(),
}


def _columns(proposal: Proposal) -> list[str]:
    """[columns]: each role's column with its numbers (or a TODO), alternatives, and the price's parts."""
    p = proposal.profiles
    out = []
    for role, reason in ROLE_REASONS.items():
        chosen = proposal.roles.get(role)
        if chosen is None:
            out.append(f"# {role} = \"TODO\"   # no column fits: name it here")
        else:
            out.append(f"{role} = {_q(chosen)}   # {reason(p[chosen])}")
        out += [f"# {role} = {_q(other)}   # alternative: {p[other].numbers()}"
                for other in proposal.alternatives.get(role, ())]
    out += [f"{part} = {_q(column)}   # named like a {part.replace('_', ' ')}; {p[column].numbers()}"
            for part, column in proposal.price_parts.items() if column]
    return out


def _match(proposal: Proposal) -> list[str]:
    """[match]: the exact keys (and those left out as fixed by another), the time bucket, the bins."""
    p = proposal.profiles
    out = ["", "[match]                 # purchases are comparable when all of these agree"]
    if proposal.match:
        out.append("exact = [" + ", ".join(_q(n) for n in proposal.match) + "]")
        out += [f"#   {n}: {p[n].numbers()}; values: {_values(p[n])}" for n in proposal.match]
    else:
        out.append('# exact = ["TODO"]   # no low-to-moderate cardinality column that varies within users was found')
    out += [f"#   {n} is left out: each {other} has one {n} in the sample (add it back if that is not so)"
            for n, other in proposal.redundant.items()]
    if proposal.time_bucket:
        out.append(f"time_bucket = {_q(proposal.time_bucket)}   # prices change by the hour on most platforms")
    else:
        out.append('# time_bucket = "1h"   # a date key is matched exactly; add a bucket if prices change within a day')
    if proposal.bins:
        out.append("bins = { " + ", ".join(f"{key(n)} = {w:g}" for n, w in proposal.bins) + " }")
        out += [f"#   {n}: bins of {w:g} (about a tenth of its 10–90 % range {_range(p[n])}: about ten "
                f"bands, so that purchases in one band are alike in {n}); {p[n].numbers()}" for n, w in proposal.bins]
    return out


def _segments(proposal: Proposal) -> list[str]:
    """[[segments]]: each user attribute with its reference value and why, or a commented TODO."""
    p = proposal.profiles
    out = []
    for n in proposal.segments:
        reference, reason = reference_value(p[n])
        out += ["", "[[segments]]",
                f"# {n}: a user attribute ({p[n].numbers()}); values: {_values(p[n])}",
                f"# reference: {reason}",
                f"name = {_q(n)}", f"column = {_q(n)}", f"reference = {_q(reference)}",
                "groups = [" + ", ".join(_q(v) for v, _ in p[n].top if v != reference) + "]"]
    if not proposal.segments:
        out += ["", "# [[segments]]   # no column is constant within users with a few values: name one here",
                '# name = "TODO"', '# column = "TODO"', '# reference = "TODO"', '# groups = ["TODO"]']
    return out


def _doses(proposal: Proposal) -> list[str]:
    """Numeric user attributes, as commented dose segments."""
    p = proposal.profiles
    out = []
    for n in proposal.doses:
        out += ["", f"# A numeric user attribute ({p[n].numbers()}; 10–90 % range {_range(p[n])}):",
                "# uncomment to test whether price rises with it (a loyalty penalty).",
                "# [[segments]]", f"# name = {_q(n)}", '# kind = "dose"', f"# column = {_q(n)}"]
    return out


def _adjustments(proposal: Proposal) -> list[str]:
    """Columns that look like declared promotions, as commented [[adjustments]]."""
    p = proposal.profiles
    out = []
    for n in proposal.adjustments:
        top = [v for v, _ in p[n].top if v.strip()]
        out += ["", f"# {n} looks like a declared promotion ({p[n].numbers()}; values: {_values(p[n])}).",
                "# If it marks a lawful, published price factor, uncomment:",
                "# [[adjustments]]", f"# name = {_q(n)}", f"# column = {_q(n)}",
                f"# value = {_q(top[0] if top else 'TODO')}"]
    return out


def _events(proposal: Proposal) -> list[str]:
    """A column telling quotes from purchases, as a commented [quotes] table."""
    p = proposal.profiles
    out = []
    for n in proposal.events:
        values = [v for v, _ in p[n].top]
        quote = next((v for v in values if v.lower() == "quote"), "quote")
        purchase = next((v for v in values if v.lower() == "purchase"), "purchase")
        out += ["", f"# {n} tells quotes from purchases ({p[n].numbers()}; values: {_values(p[n])}).",
                "# If this is a log of quotes, uncomment (quoted_price and request_id are optional):",
                "# [quotes]", f"# event_column = {_q(n)}", f"# quote_value = {_q(quote)}",
                f"# purchase_value = {_q(purchase)}"]
    return out


def _range(p: Profile) -> str:
    return "—" if p.quantiles is None else f"{p.quantiles[0]:g} to {p.quantiles[1]:g}"


def _values(p: Profile) -> str:
    shown = ", ".join(f"{v} ({n:,})" for v, n in p.top[:6])
    return shown + (f", … {p.distinct - 6:,} more" if p.distinct > 6 else "")


def _q(text: str) -> str:
    return string(str(text))


def init(input_path: str | Path, fmt: str, out: Path, rows: int = SAMPLE_ROWS, overwrite: bool = False,
         delimiter: str = ",") -> Proposal:
    """Sample the log, propose a config, and write it to `out` (never over an existing file unless asked)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise AuditConfigError(f"--out {out} already exists: choose another file, or pass --overwrite to replace it")
    path = str(Path(input_path).resolve()) if "://" not in str(input_path) else str(input_path)
    proposal = replace(propose(read_sample(path, fmt, rows, delimiter), path, fmt), delimiter=delimiter)
    text = render(proposal, out.resolve().parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return proposal
