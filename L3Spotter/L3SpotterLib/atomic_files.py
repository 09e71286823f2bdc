"""Write files atomically: a temporary file in the same folder, then a rename over the target.

An interrupted run therefore leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# mkstemp creates its file readable by the owner only; the result should get the permissions any new file
# gets (0666 less the umask), so others can read a shared results folder or an installed model.
_UMASK = os.umask(0)
os.umask(_UMASK)
NEW_FILE_MODE = 0o666 & ~_UMASK


def atomic_write_via(path, write_to_name, suffix: str = ".tmp") -> None:
    """Atomic writing for writers that take a file name (SimpleITK, ...): ``write_to_name(temporary)``, then
    a rename over ``path``. ``suffix`` keeps the ending the writer chooses its format by (``.nii.gz``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        write_to_name(temporary)
        os.chmod(temporary, NEW_FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())

    atomic_write_via(path, write)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
