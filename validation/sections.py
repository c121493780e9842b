"""docs/validation.md is written by several studies, each owning one section between its markers.

`python -m validation.run` writes the document whole and keeps every other study's section;
each other study replaces its own section and leaves the rest of the document as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOC = Path("docs/validation.md")

# Each study's markers. The timing section sits inside the main study's text (which writes its
# markers in place); the others follow it, in this order.
MARKERS = {
    "timing": ("<!-- timing:start -->", "<!-- timing:end -->"),
    "clusters": ("<!-- clusters:begin -->", "<!-- clusters:end -->"),
    "real": ("<!-- real:begin -->", "<!-- real:end -->"),
    "selfcheck": ("<!-- selfcheck:begin -->", "<!-- selfcheck:end -->"),
    "personal": ("<!-- personal:begin -->", "<!-- personal:end -->"),
}


def section_of(document: str, name: str) -> str | None:
    """The study's section in `document`, markers included (None when it has none)."""
    begin, end = MARKERS[name]
    if begin not in document or end not in document:
        return None
    return begin + document.split(begin, 1)[1].split(end, 1)[0] + end


def splice(document: str, section: str, name: str) -> str:
    """`document` with the study's section replaced by `section` (which carries the markers), or appended."""
    begin, end = MARKERS[name]
    if begin in document and end in document:
        head, rest = document.split(begin, 1)
        return head + section.rstrip("\n") + rest.split(end, 1)[1]
    return document.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"


def keep_sections(old: str, text: str) -> str:
    """The main study's new `text`, with every other study's section of the `old` document kept: the
    timing section in place of the new text's own, the rest after it."""
    for name in MARKERS:
        kept = section_of(old, name)
        if kept is None:
            continue
        if name == "timing" or section_of(text, name) is not None:
            text = splice(text, kept, name)
        else:
            text = text.rstrip("\n") + "\n\n" + kept + "\n"
    return text


def publish(section: str, name: str, out: Path | None) -> int:
    """Write the study's section into `out` (print it when `out` is None), the document whole or not at all."""
    if out is None:
        sys.stdout.write(section)
        return 0
    write(out, splice(out.read_text(encoding="utf-8") if out.exists() else "", section, name))
    return 0


def write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(out.name + ".tmp")
    staged.write_text(text, encoding="utf-8")
    staged.replace(out)
    print(f"wrote {out}", file=sys.stderr)
