"""`auditor init`: a commented starter config proposed from a bounded sample of the log.

`profile` reads the first rows (no Spark) and profiles each column (type, distinct values, nulls,
how often it is constant within a user); `propose` gives each column a role — transaction id,
user id, timestamp, price, match key, binned number, segment — with the numbers behind it;
`render` writes the proposal as commented TOML, alternatives commented out, through the config's
writer. Nothing is guessed silently: a role with no convincing column is left as a TODO that the
config check names.
"""

from auditor.starter.profile import SAMPLE_ROWS, Profile, guess_format, name_score, profile, read_sample
from auditor.starter.propose import Proposal, nice_width, propose, reference_value
from auditor.starter.render import init, render

__all__ = ["SAMPLE_ROWS", "Profile", "Proposal", "guess_format", "init", "name_score", "nice_width", "profile",
           "propose", "read_sample", "reference_value", "render"]
