"""alertmanager/render.py: every receiver combination renders a configuration the real `amtool check-config`
accepts (Debian's prometheus-alertmanager, which ./scripts/test installs; the same 0.25 as the offline stand-in),
nothing is enabled by default, the kill switch inhibits warnings, secrets come from files and are never printed,
and a bad setting is one line naming the variable."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, unavailable

RENDER = REPO_ROOT / "alertmanager" / "render.py"
TOKEN = "123456:AAH-secret-bot-token_xyz"
SMTP_PASSWORD = "smtp-secret-password-canary"
HOOK_SECRET_URL = "https://hooks.example.com/services/T000/secret-path-canary"
SECRETS = (TOKEN, SMTP_PASSWORD, "secret-path-canary")


def render(tmp_path: Path, env: dict[str, str], files: dict[str, str] | None = None
           ) -> tuple[subprocess.CompletedProcess[str], Path]:
    secrets_dir, out = tmp_path / "secrets", tmp_path / "out"
    secrets_dir.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (secrets_dir / name).write_text(text + "\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AURA_ALERT_")}
    proc = subprocess.run([sys.executable, str(RENDER), "--out", str(out), "--secrets", str(secrets_dir)],
                          capture_output=True, text=True, timeout=60, env={**clean, **env})
    return proc, out


def amtool_check(config_file: Path, mount_dir: Path) -> subprocess.CompletedProcess[str]:
    """`amtool check-config` on the rendered file, the Alertmanager container's paths pointed at ``mount_dir``."""
    amtool = shutil.which("amtool")
    if amtool is None:
        unavailable("amtool is not installed (Debian's prometheus-alertmanager; ./scripts/test installs it)")
    checked = mount_dir / "checked.yml"
    checked.write_text(config_file.read_text().replace("/etc/alertmanager/", f"{mount_dir}/"))
    return subprocess.run([str(amtool), "check-config", str(checked)], capture_output=True, text=True, timeout=60)


RECEIVERS = {
    "webhook": ({"AURA_ALERT_WEBHOOK_URL": "http://receiver.example:8080/aura"}, {}),
    "telegram": ({"AURA_ALERT_TELEGRAM_CHAT_ID": "-1001234567890"}, {"telegram_bot_token": TOKEN}),
    "email": ({"AURA_ALERT_EMAIL_TO": "ops@example.com", "AURA_ALERT_EMAIL_FROM": "aura@example.com",
               "AURA_ALERT_SMTP_SMARTHOST": "smtp.example.com:587", "AURA_ALERT_SMTP_USERNAME": "aura"},
              {"smtp_password": SMTP_PASSWORD}),
}
COMBINATIONS = [c for n in range(len(RECEIVERS) + 1) for c in itertools.combinations(RECEIVERS, n)]


@pytest.mark.parametrize("enabled", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
def test_every_receiver_combination_passes_amtool(tmp_path: Path, enabled: tuple[str, ...]) -> None:
    env: dict[str, str] = {}
    files: dict[str, str] = {}
    for name in enabled:
        env.update(RECEIVERS[name][0])
        files.update(RECEIVERS[name][1])
    proc, out = render(tmp_path, env, files)
    assert proc.returncode == 0, proc.stderr
    assert f"notifications to: {', '.join(enabled)}" in proc.stdout if enabled else "nobody" in proc.stdout
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr
    cfg = json.loads((out / "alertmanager.yml").read_text())
    [receiver] = cfg["receivers"]
    keys = {"webhook": "webhook_configs", "telegram": "telegram_configs", "email": "email_configs"}
    assert {k for k in receiver if k != "name"} == {keys[n] for n in enabled}
    assert cfg["route"]["receiver"] == "aura"
    assert stat.S_IMODE((out / "alertmanager.yml").stat().st_mode) == 0o400
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    if "email" in enabled:   # the SMTP password stays a file (auth_password_file), copied next to the config
        assert SMTP_PASSWORD not in (out / "alertmanager.yml").read_text()
        assert (out / "smtp_password").read_text() == SMTP_PASSWORD
        assert stat.S_IMODE((out / "smtp_password").stat().st_mode) == 0o400
    else:
        assert not (out / "smtp_password").exists()
    check = amtool_check(out / "alertmanager.yml", out)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 inhibit rules" in check.stdout and "1 receivers" in check.stdout


def test_nothing_is_enabled_by_default_and_the_kill_switch_inhibits_warnings(tmp_path: Path) -> None:
    proc, out = render(tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((out / "alertmanager.yml").read_text())
    assert cfg["receivers"] == [{"name": "aura"}]
    [rule] = cfg["inhibit_rules"]
    assert rule["source_matchers"] == ['alertname="AuraKillSwitchActive"']
    assert rule["target_matchers"] == ['severity="warning"'] and rule["equal"] == ["system"]
    # the alert the inhibition names exists, and is the critical one
    rules = (REPO_ROOT / "prometheus" / "rules" / "aura-alerts.yml").read_text()
    assert "alert: AuraKillSwitchActive" in rules
    assert cfg["route"]["group_wait"] == "30s" and cfg["route"]["repeat_interval"] == "4h"


def test_a_webhook_url_with_a_token_can_come_from_a_file(tmp_path: Path) -> None:
    proc, out = render(tmp_path, {}, {"webhook_url": HOOK_SECRET_URL})
    assert proc.returncode == 0, proc.stderr
    assert "secret-path-canary" not in proc.stdout + proc.stderr
    cfg = json.loads((out / "alertmanager.yml").read_text())
    assert cfg["receivers"][0]["webhook_configs"][0]["url"] == HOOK_SECRET_URL


@pytest.mark.parametrize("env,files,listed", [
    ({}, {}, []),
    (RECEIVERS["webhook"][0], {}, []),   # a URL given in the environment is not a secret
    ({}, {"webhook_url": HOOK_SECRET_URL}, [HOOK_SECRET_URL]),
    ({**RECEIVERS["telegram"][0], **RECEIVERS["email"][0]}, {**RECEIVERS["telegram"][1], **RECEIVERS["email"][1]},
     [TOKEN]),   # the SMTP password stays a file Alertmanager reads; its errors do not quote it
])
def test_the_secrets_written_into_the_config_are_listed_for_the_log_filter(tmp_path: Path, env: dict, files: dict,
                                                                           listed: list[str]) -> None:
    proc, out = render(tmp_path, env, files)
    assert proc.returncode == 0, proc.stderr
    assert (out / "log-redactions").read_text().splitlines() == listed
    assert stat.S_IMODE((out / "log-redactions").stat().st_mode) == 0o400


def test_rendering_again_removes_a_password_copy_no_longer_used(tmp_path: Path) -> None:
    env, files = RECEIVERS["email"]
    proc, out = render(tmp_path, env, files)
    assert proc.returncode == 0 and (out / "smtp_password").exists()
    (tmp_path / "secrets" / "smtp_password").unlink()
    proc, out = render(tmp_path, {k: v for k, v in env.items() if k != "AURA_ALERT_SMTP_USERNAME"})
    assert proc.returncode == 0, proc.stderr
    assert not (out / "smtp_password").exists()


@pytest.mark.parametrize("env,files,names", [
    ({"AURA_ALERT_TELEGRAM_CHAT_ID": "42"}, {}, "AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE"),
    ({}, {"telegram_bot_token": TOKEN}, "AURA_ALERT_TELEGRAM_CHAT_ID"),
    ({"AURA_ALERT_TELEGRAM_CHAT_ID": "@channel"}, {"telegram_bot_token": TOKEN}, "AURA_ALERT_TELEGRAM_CHAT_ID"),
    ({"AURA_ALERT_TELEGRAM_CHAT_ID": "42"}, {"telegram_bot_token": "not a token"}, "AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE"),
    ({"AURA_ALERT_WEBHOOK_URL": "receiver:8080/x"}, {}, "AURA_ALERT_WEBHOOK_URL"),
    ({"AURA_ALERT_WEBHOOK_URL": "http://a/b"}, {"webhook_url": "http://c/d"}, "AURA_ALERT_WEBHOOK_URL_FILE"),
    ({"AURA_ALERT_EMAIL_TO": "ops@example.com", "AURA_ALERT_EMAIL_FROM": "aura@example.com"}, {},
     "AURA_ALERT_SMTP_SMARTHOST"),
    ({"AURA_ALERT_EMAIL_TO": "ops", "AURA_ALERT_EMAIL_FROM": "aura@example.com",
      "AURA_ALERT_SMTP_SMARTHOST": "smtp:25"}, {}, "AURA_ALERT_EMAIL_TO"),
    ({**RECEIVERS["email"][0]}, {}, "AURA_ALERT_SMTP_PASSWORD_FILE"),
    ({"AURA_ALERT_SMTP_SMARTHOST": "smtp:25"}, {}, "AURA_ALERT_EMAIL_TO"),
    ({"AURA_ALERT_GROUP_WAIT": "soon"}, {}, "AURA_ALERT_GROUP_WAIT"),
    ({**RECEIVERS["email"][0], "AURA_ALERT_SMTP_REQUIRE_TLS": "maybe"}, {"smtp_password": SMTP_PASSWORD},
     "AURA_ALERT_SMTP_REQUIRE_TLS"),
])
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, env: dict, files: dict, names: str) -> None:
    proc, out = render(tmp_path, env, files)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alertmanager-init: ") and names in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    for secret in SECRETS:
        assert secret not in proc.stderr
    assert not (out / "alertmanager.yml").exists()
