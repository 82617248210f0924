"""Settings (callcontrol.settings): defaults, environment and TOML sources, and errors that name the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callcontrol.settings import CONFIG_FILE_ENV, REPO_ROOT, Settings, SettingsError, load_settings

SECRET = "Tr0ub4dor-and-3"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no CALLCONTROL_* variables from the surrounding shell."""
    for name in list(os.environ):
        if name.startswith("CALLCONTROL_"):
            monkeypatch.delenv(name)


def write_toml(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "callcontrol.toml"
    path.write_text(text)
    monkeypatch.setenv(CONFIG_FILE_ENV, str(path))
    return path


def test_defaults_are_loopback_and_standard_ports() -> None:
    """Without configuration, everything listens on loopback on the usual ports, with a local SQLite file."""
    settings = load_settings()
    assert (settings.ami_host, settings.ami_port, settings.ami_username) == ("127.0.0.1", 5038, "callcontrol")
    assert (settings.agi_host, settings.agi_port) == ("127.0.0.1", 4573)
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.ami_secret is None
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.flows_dir == REPO_ROOT / "ivr_flows"
    assert settings.migrations_dir == REPO_ROOT / "migrations"
    assert settings.log_level == "info"


def test_environment_variable_sets_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """CALLCONTROL_<NAME> sets the setting <name>, converted to its type."""
    monkeypatch.setenv("CALLCONTROL_AMI_PORT", "6038")
    monkeypatch.setenv("CALLCONTROL_SHUTDOWN_GRACE_S", "2.5")
    settings = load_settings()
    assert settings.ami_port == 6038 and settings.shutdown_grace_s == 2.5


def test_bad_env_value_names_the_setting_and_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-numeric port is an error naming ami_port and CALLCONTROL_AMI_PORT."""
    monkeypatch.setenv("CALLCONTROL_AMI_PORT", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ami_port" in message and "CALLCONTROL_AMI_PORT" in message


def test_every_bad_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several bad values give one error that lists each of them."""
    monkeypatch.setenv("CALLCONTROL_AMI_PORT", "70000")
    monkeypatch.setenv("CALLCONTROL_LOG_LEVEL", "chatty")
    monkeypatch.setenv("CALLCONTROL_AMI_USERNAME", "bad user")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in ("CALLCONTROL_AMI_PORT", "CALLCONTROL_LOG_LEVEL", "CALLCONTROL_AMI_USERNAME"):
        assert name in message


def test_toml_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in the file named by CALLCONTROL_CONFIG are used."""
    write_toml(tmp_path, 'ami_port = 6000\nlog_level = "debug"\nflows_dir = "/srv/flows"\n', monkeypatch)
    settings = load_settings()
    assert (settings.ami_port, settings.log_level, settings.flows_dir) == (6000, "debug", Path("/srv/flows"))


def test_environment_overrides_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable in the environment wins over the same setting in the file."""
    write_toml(tmp_path, 'ami_port = 6000\nhttp_port = 9000\n', monkeypatch)
    monkeypatch.setenv("CALLCONTROL_AMI_PORT", "7000")
    settings = load_settings()
    assert (settings.ami_port, settings.http_port) == (7000, 9000)


def test_missing_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Naming a config file that does not exist fails with its path, instead of silently using defaults."""
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv(CONFIG_FILE_ENV, str(missing))
    with pytest.raises(SettingsError, match="no such config file") as caught:
        load_settings()
    assert str(missing) in str(caught.value) and CONFIG_FILE_ENV in str(caught.value)


def test_unknown_key_in_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt key in the TOML file is an error naming that key."""
    write_toml(tmp_path, "ami_prot = 6000\n", monkeypatch)
    with pytest.raises(SettingsError, match="unknown setting 'ami_prot'"):
        load_settings()


def test_malformed_toml_is_a_settings_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A TOML syntax error becomes a SettingsError naming the file."""
    path = write_toml(tmp_path, "ami_port = \n", monkeypatch)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db",
                                 "mysql+aiomysql://u@h/db"])
def test_database_url_needs_an_async_driver(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the sqlite+aiosqlite and postgresql+asyncpg drivers are accepted."""
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", url)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "database_url" in str(caught.value) and "CALLCONTROL_DATABASE_URL" in str(caught.value)


def test_async_postgres_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A postgresql+asyncpg URL is a valid database_url."""
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", "postgresql+asyncpg://cc@db.example/cc")
    assert load_settings().database_url == "postgresql+asyncpg://cc@db.example/cc"


def test_require_ami_secret_explains_what_is_missing() -> None:
    """Without a secret, require_ami_secret names the setting, its variable and the AMI user."""
    with pytest.raises(SettingsError) as caught:
        load_settings().require_ami_secret()
    message = str(caught.value)
    assert "ami_secret" in message and "CALLCONTROL_AMI_SECRET" in message and "'callcontrol'" in message


def test_empty_ami_secret_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty CALLCONTROL_AMI_SECRET is no secret."""
    monkeypatch.setenv("CALLCONTROL_AMI_SECRET", "")
    with pytest.raises(SettingsError):
        load_settings().require_ami_secret()


def test_require_ami_secret_returns_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a secret configured, require_ami_secret gives its plain value."""
    monkeypatch.setenv("CALLCONTROL_AMI_SECRET", SECRET)
    assert load_settings().require_ami_secret() == SECRET


def test_database_url_for_display_masks_the_password() -> None:
    """The display form of the database URL hides the password and keeps the rest."""
    settings = Settings(database_url=f"postgresql+asyncpg://cc:{SECRET}@db.example:5432/cc")
    shown = settings.database_url_for_display()
    assert shown == "postgresql+asyncpg://cc:***@db.example:5432/cc"
    assert Settings().database_url_for_display() == Settings().database_url


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the AMI secret nor the database password shows up in repr() or str() of the settings."""
    monkeypatch.setenv("CALLCONTROL_AMI_SECRET", SECRET)
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", f"postgresql+asyncpg://cc:{SECRET}x@db/cc")
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_secret_never_appears_in_a_settings_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors about other (or even the same) settings never echo the secret."""
    monkeypatch.setenv("CALLCONTROL_AMI_SECRET", SECRET)
    monkeypatch.setenv("CALLCONTROL_AMI_PORT", "abc")
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", f"mysql://cc:{SECRET}@db/cc")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    write_toml(tmp_path, f'ami_secret = ["{SECRET}"]\n', monkeypatch)
    monkeypatch.delenv("CALLCONTROL_AMI_SECRET")
    monkeypatch.delenv("CALLCONTROL_AMI_PORT")
    monkeypatch.delenv("CALLCONTROL_DATABASE_URL")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "ami_secret" in str(caught.value) and SECRET not in str(caught.value)


def test_unknown_environment_variable_with_our_prefix_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt CALLCONTROL_* variable fails at start instead of being silently ignored."""
    monkeypatch.setenv("CALLCONTROL_AMI_PROT", "5039")
    with pytest.raises(SettingsError, match="CALLCONTROL_AMI_PROT"):
        load_settings()


def test_the_roles_that_see_callers_masked_are_a_comma_separated_list_of_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    """CALLCONTROL_MASK_CALLER_FOR: none by default; role names, spaces allowed; the admin or a typo is an error."""
    assert load_settings().mask_caller_for == ()
    monkeypatch.setenv("CALLCONTROL_MASK_CALLER_FOR", "agent, supervisor")
    assert load_settings().mask_caller_for == ("agent", "supervisor")
    for wrong in ("admin", "agents"):
        monkeypatch.setenv("CALLCONTROL_MASK_CALLER_FOR", wrong)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        assert "mask_caller_for" in str(caught.value)
