"""Configuration: the shipped default loads; bad files fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
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
