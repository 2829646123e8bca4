"""Configuration from environment variables: the variables of CONTRACT.md plus a few optional additions."""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("ingest", "eligibility", "awards", "notify")

# What a deployment must set for each service: the variables it reads whose defaults fit a developer's machine only
# (loopback addresses, example domains, no secrets, one replica). docker-compose.yml, deploy/k8s/config.yaml and
# deploy/secret.example.yaml set each of them; tests/unit/test_deployment.py checks them and this list against the code.
_EVERY_SERVICE = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_REPLICATION_FACTOR", "DATABASE_URL", "BIND_HOST")
DEPLOYMENT_VARIABLES: dict[str, tuple[str, ...]] = {
    "ingest": (*_EVERY_SERVICE, "FEED_SECRET"),
    "eligibility": _EVERY_SERVICE,
    "awards": (*_EVERY_SERVICE, "ADMIN_TOKEN", "ELIGIBILITY_URL", "NOTIFY_URL"),
    "notify": (*_EVERY_SERVICE, "ADMIN_TOKEN", "ELIGIBILITY_URL", "SMTP_HOST", "SMTP_PORT", "MAIL_FROM", "PUBLIC_BASE_URL"),
}


class Settings(BaseSettings):
    """Each variable from the environment, or else from a file of its name in `SECRETS_DIR` (a mounted Secret)."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True, secrets_dir=os.environ.get("SECRETS_DIR")
    )

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="broker list")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/digitales_amt",
        description="PostgreSQL; each service uses its own schema",
    )
    bind_host: str = Field("127.0.0.1", description="address the HTTP servers bind to")
    ingest_port: int = 8001
    eligibility_port: int = 8002
    awards_port: int = 8003
    notify_port: int = 8004

    feed_secret: SecretStr | None = Field(None, description="HMAC key for portal feeds; unset refuses every feed")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for operator endpoints; unset, they answer 503"
    )
    pvog_url: str | None = None
    pvog_poll_seconds: float = 300
    pvog_token_url: str | None = Field(None, description="OAuth2 token endpoint (client credentials) of the PVOG feed")
    pvog_client_id: str | None = None
    pvog_client_secret: SecretStr | None = None

    threshold_default: int = Field(50, ge=1)
    threshold_bezirk: int = Field(30, ge=1)
    rereview_after_days: float = Field(
        90, gt=0, description="a rejected authority still eligible this long after the rejection gets a new case"
    )
    revocation_grace_days: float = Field(
        60, gt=0, description="grace period of a holder below its threshold before a revocation case opens"
    )
    eligibility_url: str = Field(
        "http://127.0.0.1:8002", description="eligibility's API, where awards reads the counted procedures of a case"
    )
    timer_poll_s: float = Field(5.0, gt=0, description="how often awards looks for timers that have run out")
    notify_url: str = Field(
        "http://127.0.0.1:8004", description="notify's API, where awards reads and updates plaque requests (ADMIN_TOKEN)"
    )

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "digitales-amt@stmd.example"
    mail_signature: str = Field(
        "Ihr Team „Digitales Amt“\nBayerisches Staatsministerium für Digitales\nOskar-von-Miller-Ring 35\n80333 München",
        description="the sender block of every email (lines separated by newlines)",
    )
    mail_reply_to: str | None = Field(None, description="Reply-To of every email")
    public_base_url: str = "http://127.0.0.1:8004"
    mail_retry_base_s: float = Field(2.0, gt=0, description="first retry delay of a failed email (doubles each time)")
    mail_max_attempts: int = Field(8, ge=1)

    # Additions (optional, not in CONTRACT.md's table): tuning and test isolation.
    kafka_topic_prefix: str = Field("", description="prefix for every topic name (test isolation)")
    kafka_partitions: int = Field(6, ge=1, description="partitions of the topics created at start-up")
    kafka_replication_factor: int = Field(
        1, ge=1, description="replication factor of the topics the services create (3 on a production cluster)"
    )
    kafka_group_prefix: str = Field("", description="prefix for consumer group ids (test isolation)")
    kafka_assignment: Literal["leases", "group"] = Field(
        "leases", description="who shares out partitions: leases in the service's database (a start reads at once, a "
        "member that comes or goes moves only its share) or a Kafka consumer group (a join at every start, all "
        "members stop at every rebalance)"
    )
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = Field(50, ge=1, description="how long an empty fetch waits at the broker (latency)")
    consumer_max_records: int = Field(
        5_000, ge=1, description="records per batch at most; a backlog is applied in fewer, larger transactions"
    )
    consumer_commit_every_s: float = Field(
        1.0, ge=0, description="KAFKA_ASSIGNMENT=leases: how often a member commits its offsets to Kafka while it reads "
        "(0: after each batch); a successor reads again what was applied since the last commit, which consumers drop"
    )
    eligibility_consumers: int = Field(
        2, ge=1, le=64, description="group members in one eligibility process; one's SQL overlaps another's parsing"
    )
    consumer_retries: int = Field(3, ge=0, description="attempts after the first before a message goes to the DLQ")
    consumer_retry_backoff_s: float = 0.2
    retry_max_backoff_s: float = Field(
        30.0, gt=0, description="longest pause between retries while the database or broker is away"
    )
    relay_lease_s: float = Field(
        10.0, gt=0, description="an outbox relay leader that froze or lost its network is replaced after this long"
    )
    relay_check_s: float = Field(
        5.0, gt=0, description="how often each outbox relay checks that the broker still holds what it published"
    )
    startup_retries: int = Field(10, ge=0)
    startup_retry_delay_s: float = 1.0
    retention_days: int = Field(30, ge=1, description="published outbox rows and consumed event ids are kept this long")
    log_level: str = "INFO"
    log_json: bool | None = Field(None, description="JSON logs; default: JSON unless stderr is a TTY")

    def secrets(self) -> list[str]:
        """Every configured secret, for the logs to leave out."""
        found = [v.get_secret_value() for v in (self.feed_secret, self.admin_token, self.smtp_password,
                                                self.pvog_client_secret) if v is not None]
        password = urlsplit(self.database_url).password
        return [s for s in [*found, password] if s]

    def port_of(self, service: str) -> int:
        return getattr(self, f"{service}_port")

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"

    def group_id(self, service: str) -> str:
        return f"{self.kafka_group_prefix}{service}"

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MIN_SECRET_LENGTH = 16
KNOWN_PLACEHOLDERS = ("change-me", "changeme", "example", "secret-here")


def weak_secret(settings: Settings, name: str, *, required: bool = False) -> list[str]:
    """The problem with a secret while the service is reachable from elsewhere: missing (where `required`), short,
    or a placeholder from an example file. On loopback (a developer's machine) anything goes."""
    if settings.bind_host in LOOPBACK:
        return []
    given = getattr(settings, name.lower())
    value = given.get_secret_value() if given else ""
    if not value:
        return [f"{name} is not set while binding to {settings.bind_host}"] if required else []
    if len(value) < MIN_SECRET_LENGTH:
        return [f"{name} is shorter than {MIN_SECRET_LENGTH} characters while binding to {settings.bind_host}"]
    if any(word in value.lower() for word in KNOWN_PLACEHOLDERS):
        return [f"{name} is a placeholder from an example file; set a random value"]
    return []
