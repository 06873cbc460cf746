"""The staff token kept in a file: made at first start, readable by its owner only."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits of randomness, 43 URL-safe characters


class StaffTokenUnreadable(Exception):
    """The token file exists but holds no usable token (empty, or not text)."""


def load_or_create(path: Path) -> str:
    """The token in ``path``; a new random one written there first if the file is missing.

    The file is created with mode 0600 and linked into place whole, so several processes
    starting at once (the services of ``scripts/dev-up``) all read the same token and none
    reads a half-written file. A file other users may read is narrowed to 0600, with a warning.
    Raises ``StaffTokenUnreadable`` (or ``OSError``) when the file cannot give a token.
    """
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("staff token file %s was readable by others (mode %o): now 0600", path, mode)
        path.chmod(0o600)
    try:
        token = path.read_text("ascii").strip()
    except UnicodeDecodeError as error:
        raise StaffTokenUnreadable(f"{path}: not an ASCII token") from error
    if len(token) < 16:
        raise StaffTokenUnreadable(f"{path}: a staff token has at least 16 characters")
    return token


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
