"""Synthetic platform logs with planted, known price discrimination (`auditor generate`, the demo, the tests).

`generate` writes a log, the audit.toml that audits it and truth.json with what it planted. The
scenario families live in `rides` and `hotels`, the data file and Arrow helpers in `writer`,
what each scenario plants in `truth`, and the audit.toml each ships in `configs`.
"""

from auditor.synth.generate import CHUNK_ROWS, EXTENSIONS, SCENARIOS, GeneratedAudit, generate

__all__ = ["CHUNK_ROWS", "EXTENSIONS", "SCENARIOS", "GeneratedAudit", "generate"]
