"""What `frontdesk serve` warns about at start: settings fit for a laptop, served to a network.

`deployment_warnings(settings, facts)` is pure: it reads the settings and a few facts the
start gathers from the machine (`gather_facts`: where the secret key came from, who may
read the data directory) and returns one sentence per problem. Nothing is said while HTTP
listens on loopback only (the development default); once it listens beyond (`0.0.0.0`, a
public address, a host name other than localhost), each of these is a WARNING line:

- session cookies without `Secure` (no https `public_url`, `[security] secure_cookies` off);
- no `[http] public_url` (mail links lead nowhere; the live socket trusts the Host header);
- a `public_url` over plain http;
- the secret key written in the configuration file, or one shorter than 32 characters;
- the secret key file (`<data_dir>/secret_key`) in a directory others may list and enter;
- `/metrics` open without a token to addresses beyond loopback.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.settings import LOOPBACK, SECRET_KEY_FILE, Settings

log = logging.getLogger("frontdesk.deployment")

SecretSource = Literal["environment", "config", "data_dir"]
STRONG_SECRET_LENGTH = 32
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class DeploymentFacts:
    """What the start found out about the machine, for `deployment_warnings`."""

    secret_source: SecretSource = "environment"
    data_dir_mode: int | None = None
    """The permission bits of the data directory (None: it does not exist)."""


def is_loopback_host(host: str) -> bool:
    """Whether listening on `host` reaches this machine only (an empty host is every
    interface; a name other than localhost may resolve anywhere)."""
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def deployment_warnings(settings: Settings,
                        facts: DeploymentFacts = DeploymentFacts()) -> list[str]:
    """One sentence per development-only setting in force while HTTP listens beyond
    localhost; empty while it listens on loopback only (or nothing is amiss)."""
    http = settings.http
    if is_loopback_host(http.host):
        return []
    where = f"HTTP listens on {http.host or 'every interface'}"
    warnings = []
    if not (http.https or settings.security.secure_cookies):
        warnings.append(f"{where} but session cookies are sent without Secure: set [http] "
                        "public_url to an https:// address (or [security] secure_cookies = "
                        "true behind a proxy that ends TLS)")
    if not http.public_url:
        warnings.append(f"{where} without [http] public_url: links in notification mail "
                        "lead nowhere and the live socket trusts the Host header")
    elif not http.https:
        warnings.append(f"{where} and [http] public_url is plain http ({http.public_url}): "
                        "passwords and session cookies cross the network readable")
    warnings += _secret_warnings(settings, facts, where)
    if any(not _within_loopback(network) for network in http.metrics_allowed):
        warnings.append(f"{where} and [http] metrics_allowed lets addresses beyond loopback "
                        "read /metrics without a token")
    return warnings


def _secret_warnings(settings: Settings, facts: DeploymentFacts, where: str) -> list[str]:
    warnings = []
    if facts.secret_source == "config":
        warnings.append(f"{where} and the secret key is written in the configuration file: "
                        "pass it in FRONTDESK_SECRET_KEY instead")
    if len(settings.secret_key) < STRONG_SECRET_LENGTH:
        warnings.append(f"{where} with a secret key of {len(settings.secret_key)} characters: "
                        f"use at least {STRONG_SECRET_LENGTH} random ones")
    if (facts.secret_source == "data_dir" and facts.data_dir_mode is not None
            and facts.data_dir_mode & (stat.S_IROTH | stat.S_IXOTH)):
        warnings.append(f"{where} and the secret key file is in {settings.data_dir}, which "
                        f"others may list (mode {stat.S_IMODE(facts.data_dir_mode):04o}): "
                        f"chmod 700 {settings.data_dir}")
    return warnings


def _within_loopback(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(network.version == loopback.version and network.subnet_of(loopback)  # type: ignore[arg-type]
               for loopback in LOOPBACK)


def gather_facts(settings: Settings, env: dict[str, str] | None = None) -> DeploymentFacts:
    """The facts `deployment_warnings` needs, read from the environment and the disk."""
    env = dict(os.environ) if env is None else env
    data_dir = Path(settings.data_dir)
    try:
        mode: int | None = data_dir.stat().st_mode
    except OSError:
        mode = None
    if "FRONTDESK_SECRET_KEY" in env:
        return DeploymentFacts("environment", mode)
    try:
        stored = (data_dir / SECRET_KEY_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        stored = None
    return DeploymentFacts("data_dir" if stored == settings.secret_key else "config", mode)


def log_deployment_warnings(settings: Settings) -> list[str]:
    """Log each deployment warning as a WARNING line; returns them."""
    warnings = deployment_warnings(settings, gather_facts(settings))
    for warning in warnings:
        log.warning("%s", warning)
    return warnings
