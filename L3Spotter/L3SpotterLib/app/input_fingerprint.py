"""A cheap fingerprint of an input, so that a rerun reuses a result only for the very input it came from.

A file: its size, modification time and a SHA-256 of its first bytes (the header, which names the grid).
A DICOM folder: the same over the files directly inside it (their names, sizes, times and first bytes).
A replaced scan at the same path changes at least one of these.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Enough for any volume header (NIfTI 348 bytes, NRRD/MHA text headers, a DICOM file's leading tags).
HEADER_BYTES = 64 * 1024
# Per DICOM file: the preamble and the tags that identify the slice.
DICOM_HEADER_BYTES = 4 * 1024


def input_fingerprint(path) -> dict | None:
    """``{size_bytes, mtime_ns, header_sha256}`` of a file or a folder's files; None if it cannot be read."""
    path = Path(path)
    try:
        if path.is_dir():
            return _folder_fingerprint(path)
        return _file_fingerprint(path)
    except OSError:
        return None


def _file_fingerprint(path: Path) -> dict:
    status = path.stat()
    with open(path, "rb") as stream:
        header = stream.read(HEADER_BYTES)
    return {"size_bytes": status.st_size, "mtime_ns": status.st_mtime_ns, "header_sha256": hashlib.sha256(header).hexdigest()}


def _folder_fingerprint(folder: Path) -> dict:
    digest = hashlib.sha256()
    size_bytes = 0
    latest_mtime_ns = 0
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if not entry.is_file():
            continue
        status = entry.stat()
        size_bytes += status.st_size
        latest_mtime_ns = max(latest_mtime_ns, status.st_mtime_ns)
        with open(entry.path, "rb") as stream:
            digest.update(f"{entry.name}\0{status.st_size}\0".encode("utf-8", "surrogateescape"))
            digest.update(stream.read(DICOM_HEADER_BYTES))
    return {"size_bytes": size_bytes, "mtime_ns": latest_mtime_ns, "header_sha256": digest.hexdigest()}
