"""The regulator-facing HTML report, from the findings model (auditor.findings.load).

One self-contained HTML file: no script, no external resource, charts as inline SVG.
`formats` holds the languages and the number and date formats, `legal` the provisions a
finding may concern, `words` the audit's labels and match rules in words, `cards` one finding's
card, `checks` its robustness checks, `changes` an earlier audit compared, `view` what the
templates show, `charts` the inline SVG figures and `render` the templates
(`reports/templates/`) that format the view.
"""

from auditor.report.changes import change_sentences, same_audit_sentence, segment_columns
from auditor.report.formats import Formats, css_string, translations
from auditor.report.legal import Provision, provisions
from auditor.report.render import environment, render, write_report
from auditor.report.view import build_view

__all__ = ["Formats", "Provision", "build_view", "change_sentences", "css_string", "environment", "provisions",
           "render", "same_audit_sentence", "segment_columns", "translations", "write_report"]
