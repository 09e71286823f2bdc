"""SHA-256 of files, read in blocks so that large weights files need no memory."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of_file(path) -> str:
    digest = hashlib.sha256()
    with open(Path(path), "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
