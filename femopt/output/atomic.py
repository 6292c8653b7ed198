"""Replacing a file so that a reader sees the old one or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from femopt.output.files import TEMPORARY


def write_atomically(path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` for a temporary file beside ``path``, flush it to disk, then
    rename it to ``path`` (os.replace, atomic on one filesystem); on any failure the
    temporary file is removed and ``path`` is left as it was. The temporary name starts
    with femopt's temporary prefix, so a later run clears what a killed one left."""
    path = Path(path)
    handle, name = tempfile.mkstemp(prefix=f"{TEMPORARY[0]}{path.name}.", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
