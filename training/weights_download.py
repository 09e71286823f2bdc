"""Download a file once, check its SHA-256, and keep it in a cache so it is never fetched again.

Training-only: used for torchvision's ImageNet weights when the offline package is absent
(``training/pretrained.py``). The download goes to a temporary file that is renamed into place only after its checksum matched,
so the cache never holds a partial or wrong file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from L3SpotterLib.checksums import sha256_of_file
from L3SpotterLib.errors import ModelError


def default_cache_dir() -> Path:
    """torch's hub checkpoint folder, shared with torchvision's own downloads."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_checked(url: str, sha256: str, cache_dir: Path | None = None, timeout_s: float = 60.0) -> Path:
    """The cached file for ``url``, downloading it if needed; ``sha256`` may be a prefix (torchvision
    names its files ``<name>-<first 8 hex digits of the SHA-256>.pth``)."""
    if len(sha256) < 8:
        raise ValueError("give at least 8 hex digits of the expected SHA-256")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / Path(urlparse(url).path).name
    if target.is_file() and sha256_of_file(target).startswith(sha256.lower()):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=cache_dir)
    try:
        with os.fdopen(handle, "wb") as stream:
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as response:
                    shutil.copyfileobj(response, stream, length=1 << 20)
            except OSError as error:
                raise ModelError(f"cannot download {url} ({error})") from None
        actual = sha256_of_file(Path(temporary))
        if not actual.startswith(sha256.lower()):
            raise ModelError(f"{url}: downloaded file has SHA-256 {actual[:12]}..., expected {sha256[:12]}...")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target
