"""Render Alertmanager's configuration for AURA from the environment and secret files (stdlib only).

    python3 alertmanager/render.py --out DIR [--secrets DIR] [--owner UID:GID]

Compose runs it in the one-shot `alertmanager-init` service (root, no network) before Alertmanager starts; the tests
run it directly. It writes DIR/alertmanager.yml (JSON, which is YAML), DIR/log-redactions (the secrets that went
into it, for the log filter in compose.yaml) and, when e-mail has a password, a copy of the password file
DIR/smtp_password, all 0400 (owned by --owner when given), DIR itself 0700. Nothing secret is printed.

Receivers, each enabled by its variables (NONE by default: alerts then show in Prometheus and Alertmanager only):
  webhook   AURA_ALERT_WEBHOOK_URL, or the secret file `webhook_url` (a URL that carries a token)
  telegram  AURA_ALERT_TELEGRAM_CHAT_ID and the secret file `telegram_bot_token`
  e-mail    AURA_ALERT_EMAIL_TO, AURA_ALERT_EMAIL_FROM, AURA_ALERT_SMTP_SMARTHOST (host:port), optionally
            AURA_ALERT_SMTP_USERNAME with the secret file `smtp_password`, AURA_ALERT_SMTP_REQUIRE_TLS (true)
Routing: AURA_ALERT_GROUP_WAIT (30s), AURA_ALERT_GROUP_INTERVAL (5m), AURA_ALERT_REPEAT_INTERVAL (4h).
While AuraKillSwitchActive fires, every `severity="warning"` alert of the same system is inhibited.

Secret files are read from --secrets (compose bind-mounts the files named by AURA_ALERT_*_FILE there, /dev/null when
unset): an empty file means "not given". Alertmanager 0.25 (Debian's package, the offline stand-in) has no
`bot_token_file`/`url_file`, so the bot token and a webhook URL from a file are written into alertmanager.yml, which
only Alertmanager's user can read; the SMTP password stays a file (`auth_password_file`).

Exit status: 0 written, 2 a bad setting (one line naming the variable or file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

KILL_SWITCH_ALERT = "AuraKillSwitchActive"
CONFIG_NAME = "alertmanager.yml"
SMTP_PASSWORD_NAME = "smtp_password"
REDACTIONS_NAME = "log-redactions"   # one secret a line: what the alertmanager service's log filter blanks
SMTP_PASSWORD_MOUNT = "/etc/alertmanager/" + SMTP_PASSWORD_NAME   # where Alertmanager sees DIR
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")


class SettingError(ValueError):
    """A bad setting; the message names the variable or file."""


def _env(env: Mapping[str, str], key: str, default: str = "") -> str:
    return env.get(key, "").strip() or default


def _secret(secrets_dir: Path | None, name: str) -> str:
    if secrets_dir is None:
        return ""
    path = secrets_dir / name
    if not path.exists():
        return ""
    if path.is_dir():
        raise SettingError(f"{path}: a directory where a secret file was expected")
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingError(f"{path}: cannot read the secret file ({type(exc).__name__})") from None


def _url(value: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise SettingError(f"{where}: expected an http(s) URL")   # the value itself may hold a token: not shown
    return value


def _duration(env: Mapping[str, str], key: str, default: str) -> str:
    value = _env(env, key, default)
    if not DURATION.match(value):
        raise SettingError(f"{key}={value!r}: expected a duration such as 30s, 5m or 4h")
    return value


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    value = _env(env, key).lower()
    if not value:
        return default
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise SettingError(f"{key}={value!r}: expected true or false")


def receivers(env: Mapping[str, str], secrets_dir: Path | None) -> dict[str, list[dict]]:
    """The enabled integrations of the one `aura` receiver, by Alertmanager's config key."""
    out: dict[str, list[dict]] = {}
    url = _env(env, "AURA_ALERT_WEBHOOK_URL")
    url_file = _secret(secrets_dir, "webhook_url")
    if url and url_file:
        raise SettingError("AURA_ALERT_WEBHOOK_URL and AURA_ALERT_WEBHOOK_URL_FILE are both set: keep one")
    if url or url_file:
        where = "AURA_ALERT_WEBHOOK_URL" if url else "AURA_ALERT_WEBHOOK_URL_FILE"
        out["webhook_configs"] = [{"url": _url(url or url_file, where), "send_resolved": True}]

    chat = _env(env, "AURA_ALERT_TELEGRAM_CHAT_ID")
    token = _secret(secrets_dir, "telegram_bot_token")
    if chat or token:
        if not chat:
            raise SettingError("AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE is set but AURA_ALERT_TELEGRAM_CHAT_ID is not")
        if not token:
            raise SettingError("AURA_ALERT_TELEGRAM_CHAT_ID is set but the bot token file "
                               "(AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE) is missing or empty")
        if not re.fullmatch(r"-?\d{1,20}", chat):
            raise SettingError(f"AURA_ALERT_TELEGRAM_CHAT_ID={chat!r}: expected a numeric chat id")
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
            raise SettingError("AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE: not a Telegram bot token (digits:letters)")
        out["telegram_configs"] = [{"bot_token": token, "chat_id": int(chat),
                                    "send_resolved": True}]

    to = _env(env, "AURA_ALERT_EMAIL_TO")
    if to:
        sender = _env(env, "AURA_ALERT_EMAIL_FROM")
        host = _env(env, "AURA_ALERT_SMTP_SMARTHOST")
        for key, value in (("AURA_ALERT_EMAIL_TO", to), ("AURA_ALERT_EMAIL_FROM", sender)):
            if not value or not all(EMAIL.match(a.strip()) for a in value.split(",")):
                raise SettingError(f"{key}={value!r}: expected an e-mail address")
        if not HOSTPORT.match(host):
            raise SettingError(f"AURA_ALERT_SMTP_SMARTHOST={host!r}: expected host:port")
        email: dict[str, object] = {"to": to, "from": sender, "smarthost": host,
                                    "require_tls": _bool(env, "AURA_ALERT_SMTP_REQUIRE_TLS", True),
                                    "send_resolved": True}
        user = _env(env, "AURA_ALERT_SMTP_USERNAME")
        password = _secret(secrets_dir, SMTP_PASSWORD_NAME)
        if user and not password:
            raise SettingError("AURA_ALERT_SMTP_USERNAME is set but the password file "
                               "(AURA_ALERT_SMTP_PASSWORD_FILE) is missing or empty")
        if password and not user:
            raise SettingError("AURA_ALERT_SMTP_PASSWORD_FILE is set but AURA_ALERT_SMTP_USERNAME is not")
        if user:
            email.update(auth_username=user, auth_password_file=SMTP_PASSWORD_MOUNT)
        out["email_configs"] = [email]
    elif any(_env(env, k) for k in ("AURA_ALERT_EMAIL_FROM", "AURA_ALERT_SMTP_SMARTHOST", "AURA_ALERT_SMTP_USERNAME")):
        raise SettingError("AURA_ALERT_EMAIL_TO is not set, but other AURA_ALERT_EMAIL_*/SMTP_* settings are")
    return out


def config(env: Mapping[str, str], secrets_dir: Path | None) -> dict:
    """Alertmanager's configuration as a value (every receiver combination is checked by amtool in the tests)."""
    return {
        "route": {
            "receiver": "aura",
            "group_by": ["alertname", "system", "instance"],
            "group_wait": _duration(env, "AURA_ALERT_GROUP_WAIT", "30s"),
            "group_interval": _duration(env, "AURA_ALERT_GROUP_INTERVAL", "5m"),
            "repeat_interval": _duration(env, "AURA_ALERT_REPEAT_INTERVAL", "4h"),
        },
        # the kill switch already stopped new entries: its warnings (drawdown near the threshold, stale data, ...)
        # would only bury the one message that matters
        "inhibit_rules": [{
            "source_matchers": [f'alertname="{KILL_SWITCH_ALERT}"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["system"],
        }],
        "receivers": [{"name": "aura", **receivers(env, secrets_dir)}],
    }


def enabled(cfg: dict) -> list[str]:
    names = {"webhook_configs": "webhook", "telegram_configs": "telegram", "email_configs": "email"}
    return [names[k] for k in names if k in cfg["receivers"][0]]


def redactions(cfg: dict, secrets_dir: Path | None) -> list[str]:
    """The secrets written into alertmanager.yml, which Alertmanager 0.25 quotes in its errors ("Post
    \"https://api.telegram.org/bot<token>/sendMessage\": ..."): compose's log filter blanks each one."""
    receiver = cfg["receivers"][0]
    out = [t["bot_token"] for t in receiver.get("telegram_configs", [])]
    url_file = _secret(secrets_dir, "webhook_url")
    if url_file:
        out.append(url_file)
    return out


def write(out_dir: Path, cfg: dict, secrets_dir: Path | None, owner: tuple[int, int] | None) -> None:
    """DIR/alertmanager.yml and DIR/smtp_password (when used), each written to a temp file and renamed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)
    files = {CONFIG_NAME: json.dumps(cfg, indent=1, sort_keys=True) + "\n",
             REDACTIONS_NAME: "".join(f"{s}\n" for s in redactions(cfg, secrets_dir))}
    email = cfg["receivers"][0].get("email_configs", [{}])[0]
    if "auth_password_file" in email:
        files[SMTP_PASSWORD_NAME] = _secret(secrets_dir, SMTP_PASSWORD_NAME)
    elif (out_dir / SMTP_PASSWORD_NAME).exists():
        (out_dir / SMTP_PASSWORD_NAME).unlink()   # e-mail auth switched off: no stale copy stays behind
    for name, text in files.items():
        tmp = out_dir / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, out_dir / name)
    if owner is not None:
        os.chown(out_dir, *owner)


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alertmanager/render.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for alertmanager.yml")
    parser.add_argument("--secrets", type=Path, help="directory of the secret files")
    parser.add_argument("--owner", help="UID:GID to own the written files (Alertmanager's user)")
    args = parser.parse_args(argv)
    owner = None
    if args.owner:
        m = re.fullmatch(r"(\d+):(\d+)", args.owner)
        if not m:
            print(f"alertmanager-init: --owner {args.owner!r}: expected UID:GID", file=sys.stderr)
            return 2
        owner = (int(m.group(1)), int(m.group(2)))
    try:
        cfg = config(os.environ if env is None else env, args.secrets)
    except SettingError as exc:
        print(f"alertmanager-init: {exc}", file=sys.stderr)
        return 2
    write(args.out, cfg, args.secrets, owner)
    names = enabled(cfg)
    print(f"alertmanager-init: {args.out / CONFIG_NAME} written; notifications to: "
          f"{', '.join(names) if names else 'nobody (no receiver configured: set AURA_ALERT_* in .env)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
