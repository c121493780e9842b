"""Outputs appear complete or not at all, and replace nothing but a previous audit.

Everything is written to a hidden staging folder beside the target and moved
into place in one rename when the audit has finished; a failed run removes its
staging folder, so no half-written report can pose as a finished one.

A finished output folder holds `.audit-manifest.json`, listing the files the
audit wrote. `--overwrite` replaces a folder only when the manifest accounts
for everything in it: a folder of anything else, or a previous audit with
files added since, is refused, so the auditor never deletes what it did not write.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from auditor import __version__
from auditor.errors import AuditOutputError
from auditor.fingerprint import sha256_of

MANIFEST = ".audit-manifest.json"
MANIFEST_KIND = "price-discrimination-audit output"


def check_target(target: Path, overwrite: bool, flag: str = "--overwrite") -> Path:
    """The resolved output folder, if it may be written: new, or a previous audit's output with --overwrite.

    `flag` is how the caller names the switch that replaces a folder: `--overwrite` on the command
    line, `overwrite=True` from Python; the messages name it, and the folder as `--out` only for the CLI.
    """
    target = Path(target).resolve()
    where = f"--out {target}" if flag.startswith("--") else str(target)
    if target.exists() and not overwrite:
        raise AuditOutputError(f"{where} already exists: choose a new folder, or pass {flag} to replace it")
    if target.exists() and not target.is_dir():
        raise AuditOutputError(f"{where} is a file, not a folder: choose a folder path")
    if target.exists():
        check_replaceable(target, flag)
    return target


def check_replaceable(target: Path, flag: str = "--overwrite") -> None:
    """An existing folder may be replaced only if it is empty or holds exactly what an audit wrote there."""
    found = _files(target)
    if not found:
        return
    where = f"--out {target}" if flag.startswith("--") else str(target)
    written = _manifest_files(target)
    if written is None:
        raise AuditOutputError(
            f"{where} is not an audit's output folder (it holds {_describe(target, found)}): "
            f"{flag} replaces only a folder the auditor wrote; choose a new folder")
    foreign = sorted(found - written - {MANIFEST})
    if foreign:
        raise AuditOutputError(
            f"{where} holds files the audit did not write ({_describe(target, set(foreign))}): "
            f"move them out or choose a new folder; {flag} will not delete them")


def record_in_manifest(path: Path) -> bool:
    """Add a file written later into an audit's output folder (a report re-rendered in another language)
    to that folder's manifest, so that --overwrite may replace it with the rest. False if `path` is not
    directly in a folder with a valid manifest (then nothing is recorded)."""
    path = Path(path).resolve()
    folder = path.parent
    manifest = folder / MANIFEST
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("kind") != MANIFEST_KIND or not isinstance(doc.get("files"), list):
        return False
    name = path.name
    files = [e for e in doc["files"] if not (isinstance(e, dict) and e.get("path") == name)]
    files.append({"path": name, "bytes": path.stat().st_size})
    doc["files"] = sorted(files, key=lambda e: str(e.get("path")) if isinstance(e, dict) else "")
    staging = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    staging.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, manifest)
    return True


def _files(folder: Path) -> set[str]:
    """Every file under a folder, as a relative POSIX path (folders count through their files)."""
    found = set()
    for path in folder.rglob("*"):
        if path.is_file() or path.is_symlink() or (path.is_dir() and not any(path.iterdir())):
            found.add(path.relative_to(folder).as_posix())
    return found


def _manifest_files(folder: Path) -> set[str] | None:
    """The files a previous audit's manifest lists, or None if the folder has no valid manifest."""
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != MANIFEST_KIND or not isinstance(doc.get("files"), list):
        return None
    return {entry["path"] for entry in doc["files"] if isinstance(entry, dict) and isinstance(entry.get("path"), str)}


def _describe(folder: Path, files: set[str]) -> str:
    """A short listing: the top-level names, folders marked with a slash, at most five."""
    top = sorted({name.split("/", 1)[0] + ("/" if "/" in name else "") for name in files})
    shown = ", ".join(top[:5])
    return shown + (f" and {len(top) - 5} more" if len(top) > 5 else "")


def write_manifest(folder: Path) -> Path:
    """List every file of a finished output folder, with its size, the auditor's version and the time."""
    files = sorted(_files(folder) - {MANIFEST})
    doc = {
        "kind": MANIFEST_KIND,
        "auditor_version": __version__,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": [{"path": name, "bytes": (folder / name).stat().st_size if (folder / name).is_file() else 0}
                  for name in files],
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


@contextmanager
def staged_output(target: Path, overwrite: bool = False, flag: str = "--overwrite"):
    """Yield a staging folder; on success it gets its manifest and becomes `target` atomically."""
    target = check_target(target, overwrite, flag)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.incomplete-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as exc:
        raise AuditOutputError(f"--out {target} cannot be created: {exc.strerror}") from None
    try:
        yield staging
        write_manifest(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        try:  # the folder may have changed while the audit ran: look again before replacing it
            check_target(target, overwrite, flag)
        except AuditOutputError as exc:
            kept = target.parent / f"{target.name}.audit-{uuid.uuid4().hex[:8]}"
            staging.rename(kept)
            raise AuditOutputError(f"{exc}; this audit's output was kept in {kept}") from None
        # Replace: move the old folder aside first so that target is never missing half its files.
        retired = target.parent / f".{target.name}.replaced-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)


# --- generated samples (`auditor generate`, `auditor demo`) ---------------------------------------

SAMPLE_MANIFEST = ".generated-manifest.json"
SAMPLE_KIND = "price-discrimination-audit generated sample"


def check_generated_targets(folder: Path, names: list[str], overwrite: bool, flag: str = "--overwrite") -> None:
    """A generated sample may replace its own earlier files, unchanged, but never a file the user made
    or edited (an audit.toml tuned by hand): those are refused, by name, unless `flag` is given."""
    folder = Path(folder)
    if overwrite:
        return
    try:
        doc = json.loads((folder / SAMPLE_MANIFEST).read_text(encoding="utf-8"))
        written = {e["path"]: e["sha256"] for e in doc["files"]} if doc.get("kind") == SAMPLE_KIND else {}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        written = {}
    mine = []
    for name in names:
        path = folder / name
        if path.exists() and (name not in written or not path.is_file() or sha256_of(path) != written[name]):
            mine.append(name)
    if mine:
        shown = ", ".join(mine[:5]) + (f" and {len(mine) - 5} more" if len(mine) > 5 else "")
        raise AuditOutputError(
            f"{folder.resolve()} holds {shown}, not as generated here before (written or edited since): "
            f"pass {flag} to replace {'it' if len(mine) == 1 else 'them'}, or choose another folder")


def write_generated_manifest(folder: Path, names: list[str]) -> Path:
    """Record the files a generated sample wrote, with their SHA-256, so a later run knows them as its own."""
    folder = Path(folder)
    doc = {"kind": SAMPLE_KIND, "auditor_version": __version__,
           "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "files": [{"path": name, "bytes": (folder / name).stat().st_size, "sha256": sha256_of(folder / name)}
                     for name in names]}
    path = folder / SAMPLE_MANIFEST
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path
