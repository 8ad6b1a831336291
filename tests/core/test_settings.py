"""Configuration: the shipped default loads; bad files fail naming the key; the secret key
is configured or kept in the data directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.limits import Limits
from core.settings import load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_the_documented_default():
    settings = load_settings(ROOT / "config.toml")
    assert settings.database.url.startswith("sqlite+aiosqlite:///./data/")
    assert (settings.http.host, settings.http.port, settings.smtp_in.port) == (
        "127.0.0.1", 8000, 2525)
    assert settings.jobs.redis_url == ""
    assert [i.slug for i in settings.inboxes] == ["support"]
    assert settings.form("contact") is not None and settings.form("contact").inbox == "support"
    assert settings.limits == Limits()  # the file spells out the defaults


def test_environment_overrides():
    env = {"FRONTDESK_DATABASE_URL": "postgresql+asyncpg://db/frontdesk",
           "FRONTDESK_REDIS_URL": "redis://cache:6379/1", "FRONTDESK_HTTP_PORT": "9000",
           "FRONTDESK_SECRET_KEY": "s" * 32}
    settings = settings_from_dict({}, env=env)
    assert settings.database.url == "postgresql+asyncpg://db/frontdesk"
    assert settings.jobs.redis_url == "redis://cache:6379/1"
    assert settings.http.port == 9000 and settings.secret_key == "s" * 32


@pytest.mark.parametrize("text, key", [
    ("[http]\nport = 'eighty'", "http.port"),
    ("[http]\nport = 70000", "http.port"),
    ("[database]\nurl = 'mysql://x'", "database.url"),
    ("[htp]\nport = 1", "htp"),
    ("[[inboxes]]\nslug = 'Bad Slug'\nname = 'x'", "inboxes[0].slug"),
    ("[[forms]]\nslug = 'f'\ninbox = 'nowhere'\ntitle = 'T'", "form 'f' names unknown inbox"),
    ("[[forms]]\nslug = 'f'\ninbox = 'support'\ntitle = 'T'\n"
     "fields = [{name = 'name'}]", "forms[0]"),
    ("[security]\nlogin_source_max_failures = 0", "security.login_source_max_failures"),
    ("secret_key = 'short'", "secret_key"),
    ("[smtp_out]\nsecurity = 'starttls'\nca_file = '/nonexistent/ca.pem'", "smtp_out.ca_file"),
    ("[[imap]]\nname = 'desk'\ninbox = 'support'\nhost = 'mail.example.org'\n"
     "username = 'desk'\npassword_env = 'P'\nca_file = '/nonexistent/ca.pem'",
     "imap[0].ca_file"),
    ("[limits]\nmax_parts = 0", "limits: max_parts must be a positive integer"),
    ("[limits]\nmax_depth = 'deep'", "limits.max_depth"),
    ("[limits]\nmax_size = 1", "limits.max_size"),
    # The limits that were spread over other sections name where they went.
    ("[smtp_in]\nmax_message_bytes = 1024", "smtp_in.max_message_bytes: moved to [limits] "
                                           "max_message_bytes"),
    ("[attachments]\nmax_message_bytes = 1024", "attachments.max_message_bytes: moved to "
                                               "[limits] max_total_attachment_bytes"),
    ("[[imap]]\nname = 'desk'\ninbox = 'support'\nhost = 'mail.example.org'\n"
     "username = 'desk'\npassword_env = 'P'\nmax_message_bytes = 1024",
     "imap.max_message_bytes: moved to [limits] max_message_bytes"),
])
def test_bad_config_names_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert key in str(caught.value) and str(path) in str(caught.value)


def test_not_toml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[http\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


# ---------------------------------------------------------------- the secret key


def _config_in(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "frontdesk.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{extra}')
    return path


def test_first_start_writes_a_private_random_key_and_later_starts_read_it(
        tmp_path, monkeypatch):
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    config = _config_in(tmp_path)
    first = load_settings(config)
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    assert load_settings(config).secret_key == first.secret_key
    assert [p.name for p in key_file.parent.iterdir()] == ["secret_key"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert load_settings(_config_in(other)).secret_key != first.secret_key


def test_shipped_config_runs_with_nothing_to_configure(tmp_path, monkeypatch):
    """`make run` from a fresh checkout: the key appears in ./data, nothing else is set."""
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(ROOT / "config.toml")
    assert (tmp_path / "data" / "secret_key").read_text().strip() == settings.secret_key


@pytest.mark.parametrize("source", ["environment", "file"])
def test_a_configured_key_wins_and_nothing_is_written(tmp_path, monkeypatch, source):
    key = "k" * 40
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    if source == "environment":
        monkeypatch.setenv("FRONTDESK_SECRET_KEY", key)
        config = _config_in(tmp_path)
    else:
        config = _config_in(tmp_path, f'secret_key = "{key}"\n')
    assert load_settings(config).secret_key == key
    assert not (tmp_path / "data").exists()


def _group_readable(path: Path) -> None:
    path.write_text("g" * 40)
    path.chmod(0o640)


def _world_readable(path: Path) -> None:
    path.write_text("w" * 40)
    path.chmod(0o644)


def _a_directory(path: Path) -> None:
    path.mkdir()


def _not_text(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00 not utf-8 \xc3")
    path.chmod(0o600)


def _too_short(path: Path) -> None:
    path.write_text("short\n")
    path.chmod(0o600)


@pytest.mark.parametrize("spoil, message", [
    (_group_readable, "may be read by others (mode 0640); make it 0600"),
    (_world_readable, "may be read by others (mode 0644)"),
    (_a_directory, "not a regular file"),
    (_not_text, "cannot read the secret key"),
    (_too_short, "at least 16 characters"),
])
def test_a_bad_key_file_stops_the_start_naming_it(tmp_path, monkeypatch, spoil, message):
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    (tmp_path / "data").mkdir()
    key_file = tmp_path / "data" / "secret_key"
    spoil(key_file)
    with pytest.raises(ConfigError) as caught:
        load_settings(_config_in(tmp_path))
    assert message in str(caught.value) and str(key_file) in str(caught.value)


def test_a_data_dir_that_cannot_hold_the_key_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    (tmp_path / "data").write_text("a file where the directory should be")
    with pytest.raises(ConfigError, match="data/secret_key: cannot read the secret key"):
        load_settings(_config_in(tmp_path))


def test_a_data_dir_that_cannot_be_made_stops_the_start(tmp_path, monkeypatch):
    """/proc takes no new directories, not even from root."""
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    config = tmp_path / "frontdesk.toml"
    config.write_text('data_dir = "/proc/frontdesk-test/data"\n')
    with pytest.raises(ConfigError, match="secret_key: cannot write a new secret key"):
        load_settings(config)


def test_no_key_at_all_is_refused_without_a_file_to_keep_it_in():
    with pytest.raises(ConfigError, match="secret_key"):
        settings_from_dict({}, env={})


@pytest.mark.parametrize("url, https", [("", False), ("http://help.example.com", False),
                                        ("https://help.example.com", True),
                                        ("HTTPS://help.example.com/desk", True)])
def test_public_url_says_whether_people_come_over_https(url, https):
    settings = settings_from_dict({"secret_key": "s" * 32, "http": {"public_url": url}},
                                  env={})
    assert settings.http.https is https


@pytest.mark.parametrize("extra, key", [
    ("[http]\npublic_url = 'help.example.com'", "http.public_url"),
    ("[http]\nmax_body_bytes = 10", "http.max_body_bytes"),
    ("data_dir = 5", "data_dir"),
])
def test_bad_http_settings_name_the_key(tmp_path, monkeypatch, extra, key):
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    path = tmp_path / "bad.toml"
    path.write_text(extra)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert key in str(caught.value)
