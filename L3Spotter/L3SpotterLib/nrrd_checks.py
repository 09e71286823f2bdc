"""A check on NRRD headers that must run before SimpleITK sees the file: ITK's NRRD reader crashes the
whole process (a segmentation fault, which no ``try`` catches) on a header that runs into binary data, as
when the blank line that ends the header is damaged. A batch must go on past such a file.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

# An NRRD header is a few hundred bytes; one longer than this is not a header.
_HEADER_LIMIT_BYTES = 64 * 1024
_TEXT_CONTROL_CHARACTERS = {"\t", "\n", "\r"}


def check_nrrd_header(path: Path, path_text: str) -> None:
    """Refuse an NRRD file whose header (the lines up to the first blank line, or the whole of a detached
    ``.nhdr``) is not text."""
    with open(path, "rb") as stream:
        start = stream.read(_HEADER_LIMIT_BYTES + 1)
    if not start.startswith(b"NRRD"):
        return  # not NRRD to ITK either: its NRRD reader is not used
    end = _header_end(start)
    header = start[: _HEADER_LIMIT_BYTES if end is None else end]
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path_text}: the NRRD header is damaged (byte 0x{header[error.start]:02x} at offset {error.start} is not text; "
            "the header ends at a blank line)"
        ) from None
    for offset, character in enumerate(text):
        if ord(character) < 32 and character not in _TEXT_CONTROL_CHARACTERS:
            raise InputError(
                f"{path_text}: the NRRD header is damaged (control character 0x{ord(character):02x} at character {offset}; "
                "the header ends at a blank line)"
            )
    if end is None:
        raise InputError(f"{path_text}: the NRRD header is damaged (no blank line ends it within {_HEADER_LIMIT_BYTES} bytes)")


def _header_end(start: bytes) -> int | None:
    """Where the header ends: at its first blank line, or at the end of a file shorter than the limit."""
    blank_lines = [index for index in (start.find(b"\n\n"), start.find(b"\r\n\r\n")) if index >= 0]
    if blank_lines:
        return min(blank_lines) + 1
    return len(start) if len(start) <= _HEADER_LIMIT_BYTES else None
