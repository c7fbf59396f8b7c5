"""Files and the checkout: the one atomic write of the companion, and ``git`` queries.

Every file the companion writes (figures, provenance, checkpoints, cache entries, generated pages)
goes through :func:`atomic_write`: the bytes are written to a temporary file in the same folder
(a unique name, so two processes never share it), flushed to disk, then renamed into place, so a
reader sees the old file or the new one, never half of one.
"""

import os
import subprocess
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "git", "repo_root"]


def atomic_write(path: Path | str, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Raises ``FileNotFoundError`` naming ``path``'s folder when it does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"atomic_write: folder {path.parent} does not exist (for {path})")
    blob = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def repo_root() -> Path | None:
    """The checkout holding this package (an editable install), or ``None``."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / ".git").exists() else None


def git(*args: str) -> str | None:
    """``git <args>`` in the package's checkout, else in the working directory's (a non-editable
    install); its stripped output, or ``None`` outside any checkout or on failure."""
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0:
            return out.stdout.strip()
    return None
