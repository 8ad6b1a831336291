"""Typed configuration, loaded once from a TOML file plus environment overrides.

`load_settings(path)` reads the file (default `config.toml`, or `FRONTDESK_CONFIG`), applies
the environment overrides of `ENV_OVERRIDES` (`FRONTDESK_DATABASE_URL`, `FRONTDESK_REDIS_URL`,
`FRONTDESK_HTTP_PORT`, `FRONTDESK_SMTP_HOST`, `FRONTDESK_SMTP_PORT`, `FRONTDESK_SECRET_KEY`),
validates everything and returns a frozen `Settings`. Any problem raises `ConfigError` whose
message names the file and the key (or the variable, when its value is the problem).

There is no default secret key: without `FRONTDESK_SECRET_KEY` or `secret_key` in the file,
the key is read from `<data_dir>/secret_key`, which the first start writes (random, mode
0600). Servers that share a database must share the key (the variable, or that file).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tomllib
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ConfigError
from core.limits import Limits

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_DATA_DIR = "./data"
SECRET_KEY_FILE = "secret_key"
MIN_SECRET_LENGTH = 16


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./data/frontdesk.db"
    busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 30_000
    settings_poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0
    """How often each process reads the settings versions (`core.settings_version`), the
    way it learns of admins' changes when no Redis announces them."""

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return url


Networks = tuple[IPvAnyNetwork, ...]
"""Addresses or CIDR blocks: `"10.0.0.0/8"`, `"::1"` (a single address)."""
LOOPBACK: Networks = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    public_url: str = ""
    """Where people reach the server (e.g. https://help.example.com); https makes the
    session cookies Secure."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    """Largest request body taken; a larger one is answered 413 before it is parsed."""
    trusted_proxies: Networks = ()
    """Proxies whose `X-Forwarded-For` names the client (`web.forwarded`); none by default."""
    metrics: bool = False
    """Serve Prometheus metrics at `/metrics` (`web.metrics`); off by default."""
    metrics_allowed: Networks = LOOPBACK
    """Clients `/metrics` answers without a token; anyone else needs an admin's."""

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url and not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
            raise ValueError("must be empty or start with http:// or https://")
        return url

    @property
    def https(self) -> bool:
        """True when people reach the server over https."""
        return self.public_url.lower().startswith("https://")


def _host_name(host: str) -> str:
    if any(c.isspace() or not c.isprintable() or c in "/[]@" for c in host):
        raise ValueError(f"not a host name or address: {host!r}")
    return host


HostName = Annotated[str, AfterValidator(_host_name)]
"""A name or address to listen on; empty for every interface."""


class SmtpInSettings(_Section):
    enabled: bool = True
    host: HostName = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 2525
    catch_all_domains: tuple[str, ...] = ()
    """Older spelling of the first inbox's `catch_all_domains`: they seed that inbox when
    the database does not have it yet."""
    starttls_cert: str = ""
    starttls_key: str = ""
    client_connections_per_minute: Annotated[int, Field(ge=1)] = 60
    client_messages_per_minute: Annotated[int, Field(ge=1)] = 60
    """Per client IP address, shared by every receiver (`core.throttle`)."""
    unthrottled_clients: Networks = ()
    """Clients the two limits above spare: the relays in front that forward all mail."""

    @model_validator(mode="after")
    def _tls_pair(self) -> SmtpInSettings:
        if bool(self.starttls_cert) != bool(self.starttls_key):
            raise ValueError("starttls_cert and starttls_key go together")
        return self


Security = Literal["none", "starttls", "ssl"]


def _readable_file(path: str) -> str:
    if path and not Path(path).is_file():
        raise ValueError(f"no such file: {path}")
    return path


CaFile = Annotated[str, AfterValidator(_readable_file)]
"""A PEM file of certificate authorities to trust instead of the system's (a server with
a private CA); empty for the system's."""


class SmtpOutSettings(_Section):
    """The relay agent replies leave through."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 25
    security: Security = "none"
    username: str = ""
    password_env: str = ""
    """Name of the environment variable holding the password (never the password)."""
    ca_file: CaFile = ""
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0


class ImapSettings(_Section):
    name: Annotated[str, Field(pattern=SLUG)]
    inbox: str
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Security = "ssl"
    ca_file: CaFile = ""
    username: str
    password_env: str
    folder: str = "INBOX"
    poll_seconds: Annotated[float, Field(ge=5)] = 60.0
    after_import: Literal["leave", "seen", "move"] = "seen"
    move_to: str = ""

    @model_validator(mode="after")
    def _move_target(self) -> ImapSettings:
        if self.after_import == "move" and not self.move_to:
            raise ValueError("after_import = 'move' needs move_to")
        return self


class AttachmentSettings(_Section):
    dir: str = "./data/attachments"


class JobSettings(_Section):
    redis_url: str = ""
    queue_name: str = "frontdesk:jobs"


class WebhookSettings(_Section):
    """Webhook deliveries (README, "Webhooks"). A target resolving to a loopback, private,
    link-local or otherwise non-public address is refused unless `allow_private_targets`
    (a webhook must not become a way into the network Frontdesk runs in)."""

    allow_private_targets: bool = False
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class AutomationSettings(_Section):
    """Status automations; each can be switched off."""

    reopen_on_inbound: bool = True
    waiting_on_us_on_inbound: bool = True
    waiting_on_contact_on_reply: bool = True


class SecuritySettings(_Section):
    """Login throttling (README, "Throttling"): per account and source address, the
    failures after the free ones double the wait before the next attempt, from the first
    delay up to the max; a streak is forgotten `login_forget_seconds` after its last
    failure and ends with a correct login. Per source, across accounts, at most
    `login_source_max_failures` failures in `login_source_window_seconds`."""

    login_free_failures: Annotated[int, Field(ge=0, le=1000)] = 3
    login_first_delay_seconds: Annotated[float, Field(gt=0, le=86400)] = 2.0
    login_max_delay_seconds: Annotated[float, Field(gt=0, le=86400)] = 900.0
    login_forget_seconds: Annotated[float, Field(gt=0, le=30 * 86400)] = 86400.0
    login_source_max_failures: Annotated[int, Field(ge=1)] = 100
    login_source_window_seconds: Annotated[int, Field(ge=1, le=86400)] = 900
    session_days: Annotated[int, Field(ge=1, le=365)] = 14
    secure_cookies: bool = False
    trusted_authserv_ids: tuple[str, ...] = ()
    """Authentication services (the authserv-id of their Authentication-Results fields,
    RFC 8601) whose DMARC verdict on inbound mail is believed: the MTA in front of the
    inbox, which must remove fields carrying its own id from the mail it receives."""

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _authserv_ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        for authserv_id in ids:
            if not authserv_id.strip() or any(c in authserv_id for c in ' ;()"\r\n\t'):
                raise ValueError(f"not an authserv-id: {authserv_id!r}")
        return tuple(authserv_id.strip().lower() for authserv_id in ids)

    @model_validator(mode="after")
    def _delays_in_order(self) -> SecuritySettings:
        if self.login_max_delay_seconds < self.login_first_delay_seconds:
            raise ValueError("login_max_delay_seconds must be at least login_first_delay_seconds")
        return self


class LoggingSettings(_Section):
    """How the processes write their log (`core.logs`): `text` lines for people, or `json`,
    one object per line for a log collector."""

    log_format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _domain(domain: str) -> str:
    domain = domain.strip().lower()
    if not re.fullmatch(r"[^\s@/\\<>()\[\]\x00-\x1f\x7f.]+(\.[^\s@/\\<>()\[\]\x00-\x1f\x7f.]+)*",
                        domain) or len(domain) > 253:
        raise ValueError(f"not a domain: {domain!r}")
    return domain


Domain = Annotated[str, AfterValidator(_domain)]


class InboxSettings(_Section):
    """An inbox as `config.toml` seeds it: created from here when the database does not
    have its slug; after that the database (the admin console) decides (README, "Inboxes:
    config.toml and the admin console")."""

    slug: Annotated[str, Field(pattern=SLUG)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    addresses: tuple[str, ...] = ()
    catch_all_domains: tuple[Domain, ...] = ()
    """Mail to any address at these domains (that no inbox names exactly) lands here."""
    from_name: str = ""
    """Display name on outbound mail (default: the inbox name)."""
    auto_ack: bool = False
    auto_ack_window_minutes: Annotated[int, Field(ge=1)] = 1440
    auto_ack_text: str = ("Thank you for your message. We have received it and will "
                          "answer as soon as we can.")

    @field_validator("addresses")
    @classmethod
    def _lower(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        for address in addresses:
            if "@" not in address or any(c in address for c in " \r\n<>"):
                raise ValueError(f"not an email address: {address!r}")
        return tuple(a.lower() for a in addresses)


FieldType = Literal["text", "email", "textarea", "tel"]


class FormField(_Section):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: str = ""
    type: FieldType = "text"
    required: bool = False
    max_length: Annotated[int, Field(ge=1, le=100_000)] = 200


DEFAULT_FORM_FIELDS = (
    FormField(name="name", label="Your name", type="text", required=True, max_length=200),
    FormField(name="email", label="Email", type="email", required=True, max_length=254),
    FormField(name="subject", label="Subject", type="text", required=True, max_length=300),
    FormField(name="message", label="Message", type="textarea", required=True, max_length=20_000),
)


class FormSettings(_Section):
    slug: Annotated[str, Field(pattern=SLUG)]
    inbox: str
    title: Annotated[str, Field(min_length=1, max_length=200)]
    intro: str = ""
    fields: tuple[FormField, ...] = DEFAULT_FORM_FIELDS
    rate_limit_per_minute: Annotated[int, Field(ge=1)] = 10
    thanks: str = "Thank you. We have received your message and will answer soon."

    @model_validator(mode="after")
    def _fields_unique_and_usable(self) -> FormSettings:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("field names must be unique")
        if "email" not in names:
            raise ValueError("a form needs an 'email' field so the team can answer")
        return self


class SlackSettings(_Section):
    api_url: str = "https://slack.com/api/"
    """The Slack Web API the connector calls (a test double on loopback in the tests)."""
    max_event_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = 512 * 1024
    """Largest Events API request body taken; a larger one is answered 413 unread."""
    user_cache_seconds: Annotated[int, Field(ge=0, le=30 * 86400)] = 86400
    """How long a Slack user's name and email (users.info) are kept before asked again."""
    timeout_seconds: Annotated[int, Field(ge=1, le=300)] = 30
    socket_mode: bool = False
    """Take events over Socket Mode (for installs without a public URL): this process keeps
    a websocket to Slack open while the workspace has an app-level token."""

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError("must start with https:// or http://")
        return url if url.endswith("/") else url + "/"


class Settings(_Section):
    secret_key: Annotated[str, Field(min_length=MIN_SECRET_LENGTH)]
    data_dir: str = DEFAULT_DATA_DIR
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    smtp_in: SmtpInSettings = SmtpInSettings()
    smtp_out: SmtpOutSettings = SmtpOutSettings()
    imap: tuple[ImapSettings, ...] = ()
    attachments: AttachmentSettings = AttachmentSettings()
    limits: Limits = Limits()
    jobs: JobSettings = JobSettings()
    automation: AutomationSettings = AutomationSettings()
    webhooks: WebhookSettings = WebhookSettings()
    security: SecuritySettings = SecuritySettings()
    logging: LoggingSettings = LoggingSettings()
    inboxes: tuple[InboxSettings, ...] = (InboxSettings(slug="support", name="Support"),)
    forms: tuple[FormSettings, ...] = ()
    slack: SlackSettings = SlackSettings()

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        inbox_slugs = [i.slug for i in self.inboxes]
        if len(inbox_slugs) != len(set(inbox_slugs)):
            raise ValueError("inbox slugs must be unique")
        form_slugs = [f.slug for f in self.forms]
        if len(form_slugs) != len(set(form_slugs)):
            raise ValueError("form slugs must be unique")
        for form in self.forms:
            if form.inbox not in inbox_slugs:
                raise ValueError(f"form {form.slug!r} names unknown inbox {form.inbox!r}")
        for mailbox in self.imap:
            if mailbox.inbox not in inbox_slugs:
                raise ValueError(f"imap {mailbox.name!r} names unknown inbox {mailbox.inbox!r}")
        addresses = [a for i in self.inboxes for a in i.addresses]
        if len(addresses) != len(set(addresses)):
            raise ValueError("an address belongs to one inbox only")
        domains = [d for i in self.inboxes for d in i.catch_all_domains]
        if len(domains) != len(set(domains)):
            raise ValueError("a catch-all domain belongs to one inbox only")
        return self

    def form(self, slug: str) -> FormSettings | None:
        """The form declared with `slug`, or None."""
        return next((f for f in self.forms if f.slug == slug), None)


ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "FRONTDESK_DATABASE_URL": ("database", "url"),
    "FRONTDESK_REDIS_URL": ("jobs", "redis_url"),
    "FRONTDESK_HTTP_PORT": ("http", "port"),
    "FRONTDESK_SMTP_HOST": ("smtp_in", "host"),
    "FRONTDESK_SMTP_PORT": ("smtp_in", "port"),
    "FRONTDESK_SECRET_KEY": ("secret_key",),
}


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for variable, path in ENV_OVERRIDES.items():
        if variable not in env:
            continue
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = env[variable]


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


MOVED_TO_LIMITS = {
    ("smtp_in", "max_message_bytes"): "max_message_bytes",
    ("imap", "max_message_bytes"): "max_message_bytes",
    ("attachments", "max_attachment_bytes"): "max_attachment_bytes",
    ("attachments", "max_message_bytes"): "max_total_attachment_bytes",
}
"""Keys that were once read from other sections, and their name in `[limits]` now."""


def _moved_key(data: Mapping[str, Any]) -> str | None:
    """The first key of `data` that moved to `[limits]`, with where it went; None if none."""
    for (section, key), new_key in MOVED_TO_LIMITS.items():
        tables = data.get(section)
        for table in tables if isinstance(tables, list) else [tables]:
            if isinstance(table, Mapping) and key in table:
                return f"{section}.{key}: moved to [limits] {new_key}"
    return None


def settings_from_dict(
    data: dict[str, Any], *, source: str = "config", env: Mapping[str, str] | None = None
) -> Settings:
    """Validate `data` (already parsed TOML) with `env` overrides into `Settings`."""
    data = dict(data)
    moved = _moved_key(data)
    if moved is not None:
        raise ConfigError(f"{source}: {moved}")
    env = os.environ if env is None else env
    _apply_env(data, env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = re.sub(r"^Value error, ", "", first["msg"])
        variable = _variable_at(loc, env)
        if variable is not None:
            raise ConfigError(f"{variable}={env[variable]!r}: {_key_path(loc)}: "
                              f"{message}") from None
        raise ConfigError(f"{source}: {_key_path(loc)}: {message}") from None


def _variable_at(loc: tuple[int | str, ...], env: Mapping[str, str]) -> str | None:
    """The environment variable that set the value at `loc`, if one did."""
    for variable, path in ENV_OVERRIDES.items():
        if variable in env and loc[:len(path)] == path:
            return variable
    return None


def _read_secret_key(path: Path) -> str:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise  # not written yet
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secret key: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: the secret key file is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(f"{path}: the secret key file may be read by others (mode "
                          f"{stat.S_IMODE(info.st_mode):04o}); make it 0600: chmod 600 {path}")
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the secret key: {exc}") from None
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path}: the secret key must be at least {MIN_SECRET_LENGTH} "
                          "characters")
    return key


def _write_secret_key(path: Path) -> None:
    """Publish a new random key at `path` unless one is there: written whole to a private
    temporary file first, then linked into place, so a concurrent start reads either no
    file or a complete one, and the first writer wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        draft.unlink()


def stored_secret_key(data_dir: str | os.PathLike[str]) -> str:
    """The secret key kept in `<data_dir>/secret_key`, written on first use (random, mode
    0600). A file others may read, or one that cannot be read, raises ConfigError."""
    path = Path(data_dir) / SECRET_KEY_FILE
    try:
        return _read_secret_key(path)
    except FileNotFoundError:
        pass
    try:
        _write_secret_key(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write a new secret key: {exc}") from None
    return _read_secret_key(path)


def _with_secret_key(data: dict[str, Any], env: Mapping[str, str], source: str) -> None:
    if "secret_key" in data or "FRONTDESK_SECRET_KEY" in env:
        return
    data_dir = data.get("data_dir", DEFAULT_DATA_DIR)
    if not isinstance(data_dir, str):
        raise ConfigError(f"{source}: data_dir: must be a string")
    data["secret_key"] = stored_secret_key(data_dir)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load the configuration file (default: $FRONTDESK_CONFIG or ./config.toml). Without a
    secret key in the environment or the file, the one in the data directory is used (and
    written on the first start)."""
    file = Path(path or os.environ.get("FRONTDESK_CONFIG") or "config.toml")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    _with_secret_key(data, os.environ, str(file))
    return settings_from_dict(data, source=str(file))
