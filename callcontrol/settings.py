"""The one settings object: read from a TOML file and CALLCONTROL_* environment variables, validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from callcontrol.core.identifiers import ENDPOINT, TRANSFER_DESTINATION, USER_NAME
from callcontrol.core.transfers import parse_phone_codes

ENV_PREFIX = "CALLCONTROL_"
CONFIG_FILE_ENV = "CALLCONTROL_CONFIG"
REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """Configuration is invalid; the message names every bad setting."""


class Settings(BaseSettings):
    """Everything an operator can configure. Environment variables override the config file."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # Asterisk Manager Interface (events in, actions out).
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(5038, ge=1, le=65535)
    ami_username: str = Field("callcontrol", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ami_secret: SecretStr | None = None
    ami_ping_interval_s: float = Field(10.0, gt=0, le=300)
    ami_ping_timeout_s: float = Field(5.0, gt=0, le=60)
    ami_action_timeout_s: float = Field(10.0, gt=0, le=120)
    ami_reconnect_min_s: float = Field(0.5, gt=0, le=60)
    ami_reconnect_max_s: float = Field(10.0, gt=0, le=600)

    # FastAGI server Asterisk connects to for each call in the IVR phase.
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(4573, ge=1, le=65535)
    agi_header_timeout_s: float = Field(5.0, gt=0, le=60)

    # HTTP API (health, readiness, flows, queues and agents).
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    # Browser origins (scheme://host[:port], comma-separated) whose pages may open the /api/feed WebSocket; a
    # handshake carrying any other Origin is refused (403). Empty: only clients that send no Origin (not browsers).
    http_allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # The live calls view (GET /api/calls, the feed's call events; docs/live-calls.md): the roles (comma-separated:
    # supervisor, agent) that see a caller's number masked to its last 4 digits, and no caller name. The admin never.
    mask_caller_for: Annotated[tuple[Literal["supervisor", "agent", "reporting"], ...], NoDecode] = ()
    # ACD: consecutive unanswered offers after which an agent is paused with reason "missed".
    acd_max_misses: int = Field(3, ge=1, le=100)
    # ACD: after an agent's phone refuses an offer at once (486 busy, congestion), seconds before it is offered
    # another call (app_queue's `retry`); 0 re-offers at once.
    acd_busy_retry_s: float = Field(5.0, ge=0, le=300)
    # Transfers (docs/transfers.md): the outside numbers a call may be transferred to (comma-separated, exact,
    # digits with an optional leading +; reached through dialplan [callcontrol-outbound]); and the codes an agent
    # may key on its phone (SIP REFER) for a queue, e.g. "2001=queue:support,2002=queue:sales". Nothing else is
    # ever a transfer's destination.
    transfer_numbers: Annotated[tuple[str, ...], NoDecode] = ()
    transfer_phone_codes: str = ""

    # Bearer token every /api request must carry, reads included (/healthz and /readyz are open); agents may act
    # for themselves with their PIN instead. Unset: the API answers 403 to everything. At least 16 characters.
    api_token: SecretStr | None = Field(None, min_length=16)

    # repr=False: the URL may carry the database password; show database_url_for_display() instead.
    database_url: str = Field("sqlite+aiosqlite:///callcontrol.sqlite3", repr=False)
    migrations_dir: Path = REPO_ROOT / "migrations"
    # Call recordings (docs/recording.md): the directory as the service sees it, and as Asterisk sees it (the
    # sandbox's chroot path, a shared volume in production; unset: the same path). Asterisk writes the files,
    # the service measures, serves and purges them.
    recordings_dir: Path = REPO_ROOT / "recordings"
    recordings_asterisk_dir: str | None = Field(None, pattern=r"^/[A-Za-z0-9_./-]{0,200}$")
    recordings_purge_interval_s: float = Field(3600.0, ge=10, le=86400)  # how often expired recordings are purged
    wrapup_window_s: float = Field(1800.0, ge=0, le=7 * 86400)  # a wrap-up code may be set this long after the call
    flows_dir: Path = REPO_ROOT / "ivr_flows"
    # When set, every prompt of a flow must exist as <sounds_dir>/<language>/<name>.<any format>.
    sounds_dir: Path | None = None

    # Asterisk's hangup log (cel_custom, dialplan/cel_custom.conf), read after a restart or an AMI outage so that
    # calls that ended meanwhile get their real end time and cause. Unset: those ends are the resync's time.
    asterisk_hangup_log: Path | None = None

    # Live supervision (docs/supervision.md): the phones the admin allows each supervisor (and admin) user to be
    # rung on, "user=PJSIP/device[|PJSIP/device2],user2=..."; the first is the default. How long a phone rings.
    supervisor_phones: Annotated[dict[str, tuple[str, ...]], NoDecode] = Field(default_factory=dict)
    supervision_ring_timeout_s: float = Field(20.0, ge=2, le=120)

    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # On SIGTERM: how long calls in the IVR may go on before they are handed back to the dialplan.
    shutdown_grace_s: float = Field(5.0, ge=0, le=300)

    @field_validator("http_allowed_origins", "mask_caller_for", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("supervisor_phones", mode="before")
    @classmethod
    def _phones(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        phones: dict[str, tuple[str, ...]] = {}
        for pair in filter(None, (part.strip() for part in value.split(","))):
            user, _, endpoints = pair.partition("=")
            found = tuple(e.strip() for e in endpoints.split("|") if e.strip())
            if not USER_NAME.match(user.strip()) or not found or not all(ENDPOINT.match(e) for e in found):
                raise ValueError(f"{pair[:80]!r}: write user=PJSIP/device[|PJSIP/device2], pairs separated by commas")
            phones[user.strip()] = found
        return phones

    @field_validator("transfer_numbers", mode="before")
    @classmethod
    def _numbers(cls, value: object) -> object:
        numbers = cls._comma_separated(value)
        if isinstance(numbers, tuple):
            bad = [number for number in numbers if not TRANSFER_DESTINATION.match(str(number))]
            if bad:
                raise ValueError(f"not a number (digits, optional leading +, 2-20): {bad[0]!r:.40}")
        return numbers

    @field_validator("transfer_phone_codes")
    @classmethod
    def _phone_codes(cls, value: str) -> str:
        parse_phone_codes(value)  # raises ValueError naming the bad part
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def require_ami_secret(self) -> str:
        if self.ami_secret is None or not self.ami_secret.get_secret_value():
            raise SettingsError(
                f"setting ami_secret ({ENV_PREFIX}AMI_SECRET) is required: the secret of the AMI user "
                f"'{self.ami_username}' in Asterisk's manager.conf"
            )
        return self.ami_secret.get_secret_value()

    def database_url_for_display(self) -> str:
        """The database URL with any password masked, safe for logs and errors."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.database_url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return urlunsplit(parts._replace(netloc=netloc))
        return self.database_url


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one message that names each bad setting."""
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV}={config_file}: no such config file")
    unknown = sorted(name for name in os.environ
                     if name.startswith(ENV_PREFIX) and name not in _known_environment_names())
    if unknown:
        raise SettingsError("invalid configuration:\n" + "\n".join(
            f"  unknown setting {name} (no such option; see README 'Configuration')" for name in unknown))
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise SettingsError(f"config file {config_file}: {exc}") from None


# Variables with the prefix that are not service settings: read by the sandbox, scripts and tests.
OTHER_ENVIRONMENT_NAMES = frozenset({CONFIG_FILE_ENV, "CALLCONTROL_SANDBOX_ROOT", "CALLCONTROL_VENV",
                                     "CALLCONTROL_TEST_POSTGRES"})


def _known_environment_names() -> frozenset[str]:
    return OTHER_ENVIRONMENT_NAMES | {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def describe_validation_error(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "?"
        env_name = ENV_PREFIX + name.upper()
        if error["type"] == "extra_forbidden":
            lines.append(f"  unknown setting '{name}' (no such option)")
            continue
        lines.append(f"  setting {name} ({env_name}): {error['msg']}")
    return "\n".join(lines)
