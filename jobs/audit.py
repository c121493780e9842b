"""Batch entry point for spark-submit, on any master:

    spark-submit jobs/audit.py --config audit.toml --out DIR [--overwrite] [--quiet]

The master and resources come from spark-submit. Only the driver runs Python
(the audit uses no Python UDFs), so executors need no copy of the package.
"""

import sys
from pathlib import Path

# Run from a checkout without installing: the package sits beside jobs/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["run", *sys.argv[1:]]))
