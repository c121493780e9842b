"""Outputs appear complete or not at all.

Everything is written to a hidden staging folder beside the target and moved
into place in one rename when the audit has finished; a failed run removes its
staging folder, so no half-written report can pose as a finished one.
"""

from __future__ import annotations

import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from auditor.errors import AuditOutputError


def check_target(target: Path, overwrite: bool) -> Path:
    """The resolved output folder, if it may be written: new, or an existing folder with --overwrite."""
    target = Path(target).resolve()
    if target.exists() and not overwrite:
        raise AuditOutputError(
            f"--out {target} already exists: choose a new folder, or pass --overwrite to replace it")
    if target.exists() and not target.is_dir():
        raise AuditOutputError(f"--out {target} is a file, not a folder: choose a folder path")
    return target


@contextmanager
def staged_output(target: Path, overwrite: bool = False):
    """Yield a staging folder; on success it becomes `target` atomically."""
    target = check_target(target, overwrite)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.incomplete-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as exc:
        raise AuditOutputError(f"--out {target} cannot be created: {exc.strerror}") from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        # Replace: move the old folder aside first so that target is never missing half its files.
        retired = target.parent / f".{target.name}.replaced-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)
