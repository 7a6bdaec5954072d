"""Secrets come only from the environment or secret files, never from YAML.

For each secret NAME the value is taken from ``$NAME``, else from the file named by ``$NAME_FILE``,
else from ``/run/secrets/<name in lower case>``. Values are wrapped so that ``repr``/``str`` never show them,
and entry points hand ``Secrets.values()`` to the logging redaction filter (adapters.logs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aura_common.config.errors import ConfigError

SECRET_NAMES = ("AURA_API_KEY", "AURA_API_SECRET", "GF_SECURITY_ADMIN_PASSWORD")
SECRETS_DIR = Path("/run/secrets")


class SecretStr:
    """A string that refuses to print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Secrets:
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    grafana_password: SecretStr | None = None

    def present(self) -> dict[str, bool]:
        return {"api_key": bool(self.api_key), "api_secret": bool(self.api_secret),
                "grafana_password": bool(self.grafana_password)}

    def values(self) -> list[str]:
        return [s.get() for s in (self.api_key, self.api_secret, self.grafana_password) if s]


def _read(name: str, environ: Mapping[str, str], secrets_dir: Path) -> SecretStr | None:
    if environ.get(name):
        return SecretStr(environ[name].strip())
    file = environ.get(f"{name}_FILE")
    candidates = [Path(file)] if file else [secrets_dir / name.lower()]
    for path in candidates:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if file:  # an explicitly named file that is missing is an error, not a silent "no key"
                raise ConfigError(f"{name}_FILE", "", f"secret file {path} not found") from None
            continue
        except OSError as exc:
            raise ConfigError(f"{name}_FILE", "", f"cannot read secret file {path}: {exc.strerror}") from None
        if value:
            return SecretStr(value)
    return None


def read_secret(name: str, environ: Mapping[str, str] | None = None,
                secrets_dir: Path = SECRETS_DIR) -> SecretStr | None:
    """One secret by the same rule (``$NAME``, ``$NAME_FILE``, ``/run/secrets/<name>``), for a service's own
    secret such as the optimizer's ``AURA_OPTIMIZER_STORAGE_PASSWORD``."""
    return _read(name, os.environ if environ is None else environ, secrets_dir)


def load_secrets(environ: Mapping[str, str] | None = None, secrets_dir: Path = SECRETS_DIR) -> Secrets:
    environ = os.environ if environ is None else environ
    return Secrets(
        api_key=_read("AURA_API_KEY", environ, secrets_dir),
        api_secret=_read("AURA_API_SECRET", environ, secrets_dir),
        grafana_password=_read("GF_SECURITY_ADMIN_PASSWORD", environ, secrets_dir),
    )
