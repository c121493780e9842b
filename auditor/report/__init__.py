"""The regulator-facing HTML report, from the findings.json document.

One self-contained HTML file: no script, no external resource, charts as inline SVG.
`formats` holds the languages and the number and date formats, `legal` the provisions a
finding may concern, `view` what the templates show, `charts` the inline SVG figures and
`render` the templates (`reports/templates/`) that format the view.
"""

from auditor.report.formats import Formats, css_string, translations
from auditor.report.legal import Provision, provisions
from auditor.report.render import environment, render, write_report
from auditor.report.view import audit_labels, build_view, change_sentences, same_audit_sentence

__all__ = ["Formats", "Provision", "audit_labels", "build_view", "change_sentences", "css_string", "environment",
           "provisions", "render", "same_audit_sentence", "translations", "write_report"]
