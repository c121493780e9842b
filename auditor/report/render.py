"""Render the report: the view (auditor.report.view) through the templates in `reports/templates/`.

Templates load from the `reports` package; every value is HTML-escaped by jinja2 (log strings
such as product and city names are untrusted), and the template is strict about undefined names.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jinja2

from auditor import vocabulary
from auditor.findings import AuditFindings, load
from auditor.report.formats import Formats, css_string, translations
from auditor.report.view import build_view

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=None)
def environment(language: str = "en") -> jinja2.Environment:
    """Templates load from the `reports` package; every value is escaped (log strings are untrusted)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    formats = Formats(language)
    env.filters.update(pct=formats.pct, pp=formats.pp, num=formats.num, dec=formats.dec, p=formats.p, p_is=formats.p_is,
                       when=formats.when, css=lambda text: css_string(str(text)), exact=json.dumps)
    # The vocabulary's registries: templates name a verdict, reason or kind as `Verdict.FLAGGED`, never as text.
    env.globals.update(Verdict=vocabulary.Verdict, InsufficientReason=vocabulary.InsufficientReason,
                       RobustnessReason=vocabulary.RobustnessReason, Kind=vocabulary.Kind, Scale=vocabulary.Scale)
    return env


def render(doc: AuditFindings | dict, language: str = "en", min_cell_size: int = 10) -> str:
    """The report for a findings document (the model, or findings.json as a dict), as one self-contained
    HTML string."""
    view = build_view(load(doc), language, min_cell_size)
    return environment(language).get_template(TEMPLATE).render(**view)


def write_report(doc: AuditFindings | dict, path: Path, language: str = "en", min_cell_size: int = 10) -> None:
    """Write the report for a findings.json document to `path`."""
    Path(path).write_text(render(doc, language, min_cell_size), encoding="utf-8")
