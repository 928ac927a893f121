"""Saved logins: one profile per API URL in `~/.config/sdp/credentials.json`, readable by its owner only."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/sdp`, by default `~/.config/sdp`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sdp"


def normalise_url(url: str) -> str:
    """The key of a profile: the API's base URL without a trailing slash."""
    return url.rstrip("/")


@dataclass(frozen=True)
class Login:
    url: str
    email: str
    id_token: str
    refresh_token: str | None
    expires_at: float  # seconds since the epoch when id_token stops being accepted

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at - time.time() < seconds


def private_directory(path: Path) -> Path:
    """`path` as a directory only its owner can open (made so if it was not)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, mode 0600 from the first byte (a temporary file of its own per
    writer, then renamed), in a directory only its owner can open."""
    private_directory(path.parent)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class CredentialStore:
    """The logins saved under one configuration directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "credentials.json"
        self._changing = threading.Lock()  # a read-change-write at a time: no profile lost to another's

    def _profiles(self) -> dict[str, Any]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # a damaged file is a missing login, not a crash: the next login rewrites it
        profiles = document.get("profiles") if isinstance(document, dict) else None
        return profiles if isinstance(profiles, dict) else {}

    def load(self, url: str) -> Login | None:
        entry = self._profiles().get(normalise_url(url))
        try:
            return Login(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def save(self, login: Login) -> None:
        with self._changing:
            profiles = self._profiles()
            profiles[normalise_url(login.url)] = asdict(login)
            write_private(self.path, json.dumps({"profiles": profiles}, indent=2))

    def remove(self, url: str) -> bool:
        """Forget the login for `url`; whether there was one."""
        with self._changing:
            profiles = self._profiles()
            if profiles.pop(normalise_url(url), None) is None:
                return False
            write_private(self.path, json.dumps({"profiles": profiles}, indent=2))
            return True
