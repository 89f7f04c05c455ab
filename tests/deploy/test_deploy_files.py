"""The files an operator installs from deploy/ are valid: systemd units verify, nginx accepts its site, the
environment file satisfies production start-up, and every command they name exists."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.config import ENV_PREFIX, PRODUCTION_REQUIRED, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
VENV_BIN = Path(sys.executable).parent


def _installed_copy(tmp_path: Path) -> Path:
    """The unit files as they would be installed, with /opt/hongguan pointing at this checkout and venv."""
    out = tmp_path / "units"
    out.mkdir()
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        text = text.replace("/opt/hongguan/venv/bin", str(VENV_BIN)).replace("/opt/hongguan/app", str(ROOT))
        (out / unit.name).write_text(text, encoding="utf-8")
    return out


def _exec_lines(unit: Path) -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1])
        for line in unit.read_text(encoding="utf-8").splitlines()
        if re.match(r"Exec(Start|StartPre|Reload)=", line)
    ]


def test_systemd_units_verify(tmp_path):
    installed = _installed_copy(tmp_path)
    names = [u.name.replace("@.service", "@1.service") for u in UNITS]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names], cwd=installed, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_every_hongguan_command_in_the_units_and_the_guide_exists():
    from cli import main

    commands: list[list[str]] = []
    for unit in UNITS:
        commands += [argv[1:] for argv in _exec_lines(unit) if argv[0].endswith("/hongguan")]
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    commands += [shlex.split(m)[1:] for m in re.findall(r"`(?:[^`]*/)?(hongguan [a-z][^`]*)`", guide)]
    assert len(commands) >= 8
    runner = CliRunner()
    for argv in commands:
        words = [w for w in argv if not w.startswith("-") and not w.startswith("<")]
        path: list[str] = []
        group = main
        for word in words:
            sub = getattr(group, "commands", {}).get(word)
            if sub is None:
                break
            path.append(word)
            group = sub
        assert path, f"`hongguan {' '.join(argv)}` names no hongguan command"
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (argv, result.output)


def test_web_unit_uses_the_project_gunicorn_config():
    web = (DEPLOY / "systemd" / "hongguan-web.service").read_text(encoding="utf-8")
    assert "-c python:infra.gunicorn_config" in web
    import infra.gunicorn_config as conf

    assert conf.worker_class == "gthread"


def test_environment_example_passes_production_start_up():
    values = {}
    for line in (DEPLOY / "hongguan.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    assert {ENV_PREFIX + k for k in PRODUCTION_REQUIRED} <= set(values)
    config = load_config(environ=values)
    assert config["ENV"] == "production"
    # Without any one required variable, start-up refuses and names it.
    from infra.config import ConfigError

    for key in PRODUCTION_REQUIRED:
        reduced = {k: v for k, v in values.items() if k != ENV_PREFIX + key}
        with pytest.raises(ConfigError, match=ENV_PREFIX + key):
            load_config(environ=reduced)


def _self_signed(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hongguan.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def test_nginx_accepts_the_site(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    site = (DEPLOY / "nginx" / "hongguan.conf").read_text(encoding="utf-8")
    _self_signed(tmp_path)
    site = site.replace("/etc/ssl/hongguan", str(tmp_path)).replace("/var/log/nginx", str(tmp_path))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/site.conf; }}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_access_log_leaves_out_query_strings():
    site = (DEPLOY / "nginx" / "hongguan.conf").read_text(encoding="utf-8")
    formats = re.findall(r"log_format\s+(\w+)\s+([^;]+);", site)
    assert formats
    for _, fmt in formats:
        assert "$request " not in fmt
        assert '$request"' not in fmt
        assert "$args" not in fmt
        assert "$request_uri" not in fmt
    for match in re.finditer(r"access_log\s+(\S+)(?:\s+(\w+))?;", site):
        assert match.group(1) == "off" or match.group(2) in {name for name, _ in formats}
