"""A file's SHA-256: the fingerprint findings.json records for each input file it read, and the output
manifest records for each file the auditor wrote (so that only its own, unchanged files are replaced)."""

from __future__ import annotations

import hashlib
import os


def sha256_of(path: str | os.PathLike) -> str:
    """The file's SHA-256 as hex, read in blocks of 1 MiB (an input may be larger than memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
