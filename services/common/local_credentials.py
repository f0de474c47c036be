"""The local stack's generated passwords. infra/stack.sh makes them once per stack and keeps
them under `.local/` (or `SMARTCITY_LOCAL_DIR`), 0600, one file per server: a line
`principal password` each (`.local/kafka/credentials`, `.local/store/credentials`)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def credentials_file(server: str, override: str) -> Path:
    """The file of `server`'s passwords: the variable `override` when set, else the local
    stack's `<local dir>/<server>/credentials`."""
    explicit = os.environ.get(override)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("SMARTCITY_LOCAL_DIR", ROOT / ".local")) / server / "credentials"


def password_in(path: Path, principal: str) -> str:
    """`principal`'s password in `path`, or "" when the file or the principal is missing."""
    if not path.is_file():
        return ""
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, password = line.strip().partition(" ")
        if name == principal:
            return password.strip()
    return ""
