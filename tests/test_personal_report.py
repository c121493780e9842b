"""The report section "Is pricing personalised?", rendered from the findings.json block alone."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from auditor.findings.personal import PersonalisationFinding
from auditor.findings.personal_model import Personalisation, ScannedColumn
from auditor.report.personal import attribute_rows, section
from auditor.stats.personal import PairSums, attribution, dispersion, persistence, read


def _block(premium: float, user_sd: float = 0.0, hostile: bool = False) -> Personalisation:
    rng = np.random.default_rng([20261130, 96])
    users = 1200
    model = rng.choice(4, users, p=(0.3, 0.3, 0.2, 0.2))
    user = np.repeat(np.arange(users), 1 + rng.poisson(9, users))
    cell = rng.integers(0, 40, user.size)
    y = (rng.normal(3.0, 0.5, 40)[cell] + np.array([premium, 0.0, 0.0, 0.0])[model][user]
         + rng.normal(0.0, user_sd or 1e-12, users)[user] + rng.normal(0.0, 0.05, user.size))
    names = ["<b>m0</b>" if hostile else "m0", "m1", "m2", "m3"]
    attributes = {"phone": {u: names[m] for u, m in enumerate(model)}}
    pairs = PairSums.from_rows(cell, user, y)
    disp, pers, attr = dispersion(pairs), persistence(pairs, seed=3), attribution(pairs, attributes, seed=3)
    finding = PersonalisationFinding(read(disp, pers, attr), disp, pers, attr, "cell", 0.05, 0.01)
    return Personalisation.from_json(finding.to_json())  # as findings.json is read back


@pytest.mark.parametrize("language, title", [("en", "Is pricing personalised?"), ("zh-CN", "定价是否个性化？")])
def test_section_opens_with_the_verdict_and_shows_one_chart_and_one_table(language, title):
    block = _block(math.log(1.06))
    assert block.reading == "persistent_explained"
    html = section(block, language, labels={"phone": "phone model"})
    assert f"<h2>{title}</h2>" in html
    assert html.count("<svg") == 1 and html.count("<table") == 1
    assert 'data-reading="persistent_explained"' in html
    rows = attribute_rows(block, language)
    assert rows[0].value == "m0" and rows[0].confirmed in ("yes", "是")  # confirmed first
    assert rows[0].premium in html


def test_log_values_are_escaped():
    html = section(_block(math.log(1.06), hostile=True), "en")
    assert "<b>m0</b>" not in html and "&lt;b&gt;m0&lt;/b&gt;" in html


def test_no_persistent_spread_shows_what_could_have_been_detected():
    block = _block(0.0)
    assert block.reading == "no_material_personalisation"
    html = section(block, "en")
    assert "smallest spread of persistent user premiums this data could have detected" in html
    assert "smallest spread the data could detect" in html  # the chart's dotted curve


@pytest.mark.parametrize("user_sd", [0.3, 0.6])
def test_a_wide_spread_is_drawn_with_ticks_above_minus_one_hundred_percent(user_sd):
    """Users whose persistent premiums spread by tens of percent (a flagged peak-hour log did): the axis
    takes coarse steps, and a tick at −100 % or below (no log point) is left out, not an error."""
    block = _block(0.0, user_sd=user_sd)
    assert block.persistence.sd > 0.2
    html = section(block, "en")
    assert html.count("<svg") == 1 and "−100" not in html.split("<svg")[1].split("</svg>")[0]


def test_column_ids_and_the_config_key_are_code_and_a_hostile_column_name_is_escaped():
    """The scan lists columns no config names: their ids show as code (not words of the report's language),
    a labelled column by its label, and a column name from the log is escaped like any log value."""
    block = _block(math.log(1.06))
    scan = (ScannedColumn("phone", 1200, 1.0, 4, "kept", True),
            ScannedColumn("<i>x</i>", 1200, 1.0, 195, "too_many_values", False))
    html = section(dataclasses.replace(block, scan=scan), "zh-CN", labels={"phone": "手机型号"})
    assert "手机型号 (4)" in html and "<code>phone</code>" not in html
    assert "<code>&lt;i&gt;x&lt;/i&gt;</code>" in html and "<i>x</i>" not in html
    assert "<code>[columns] disclosed</code>" in html
