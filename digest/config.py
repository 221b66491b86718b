"""Settings: digest.toml, overridden by .env and DIGEST_* environment variables.

Nothing but `digest.app` (the composition root) and the CLI reads settings; every other module
takes the values it needs as arguments.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from digest.config_sources import KnownValuesOnly, Origins, check_names
from digest.errors import ConfigError

DEFAULT_CONFIG_FILE = "digest.toml"
DEFAULT_DATABASE_FILE = "digest.db"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# A DKIM selector (labels of letters, digits, - and _), or a whole name with "._domainkey.".
_DKIM_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_PASSWORD_PARAMETERS = frozenset({"password", "sslpassword"})
log = logging.getLogger("digest.config")


def _not_negative(value: object) -> object:
    """Every duration setting: a negative one ("-01:00:00") is a typo, never a meaning."""
    if isinstance(value, timedelta) and value < timedelta(0):
        raise ValueError("must not be negative")
    return value


DEFAULT_FONT_STACK = (
    "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
)
# Family names as CSS lists them: letters, digits, spaces, hyphens, quotes around a name.
_FONT_STACK = re.compile(
    r"^\s*(?:[A-Za-z0-9 -]+|'[A-Za-z0-9 -]+')(?:\s*,\s*(?:[A-Za-z0-9 -]+|'[A-Za-z0-9 -]+'))*\s*$"
)
_FONT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 -]*$")


# A DNS name (optionally "*." in front) or a bracketed IPv6 literal, as a Host header has it.
_HOST_PATTERN = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


class TopicConfig(BaseModel):
    """A topic readers may follow: an article is in it when its section's title is one of
    `sections`, it carries one of `tags`, or its headline or text has one of `query`'s words or
    phrases (whole words, any case)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=60)
    sections: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    query: list[str] = Field(default_factory=list)

    @field_validator("query")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        for phrase in value:
            if not phrase.strip():
                raise ValueError("a query word or phrase must not be empty")
        return [" ".join(phrase.split()) for phrase in value]

    @model_validator(mode="after")
    def _matches_something(self) -> TopicConfig:
        if not (self.sections or self.tags or self.query):
            raise ValueError("a topic needs sections, tags or query (what puts an article in it)")
        return self


class FrequencyConfig(BaseModel):
    """How often a reader may choose to get the newsletter: its own schedule (cron, in the
    newsletter's zone) and how far back its editions look for articles."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=60)
    schedule: str | None = None
    lookback: timedelta | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _cron_expression(value)

    @field_validator("lookback")
    @classmethod
    def _duration(cls, value: timedelta | None) -> timedelta | None:
        _not_negative(value)
        return value


def _ip_networks(value: list[str], example: str) -> list[str]:
    """A list setting of IP addresses or networks: each entry must parse as one."""
    import ipaddress

    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r}: an IP address or network, like {example}") from None
    return value


def _cron_expression(value: str | None) -> str | None:
    if value is None:
        return None
    from croniter import croniter

    # Five fields: croniter would read a sixth as seconds ("0 7 * * * *": every second).
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a cron expression of five fields (minute hour day month "
            "weekday) like '0 7 * * MON'"
        )
    return value


class NewsletterConfig(BaseModel):
    """One newsletter: who it is from, what it is about, and how it looks."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""  # filled from the table key in digest.toml
    title: str = Field(min_length=1, max_length=120)
    theme: str = Field(min_length=3, max_length=300)
    from_name: str = Field(min_length=1, max_length=120)
    from_address: EmailStr
    reply_to: EmailStr | None = None
    postal_address: str = Field(min_length=5, description="Required in the footer by CAN-SPAM.")
    base_url: HttpUrl
    accent_color: str = "#1f6feb"
    logo_url: HttpUrl | None = None
    # The logo's box in the email: with images off, its alt text (the title) shows in it.
    logo_width: int = Field(default=180, ge=40, le=552)
    logo_height: int | None = Field(default=None, ge=16, le=300)
    # Text in the email: a font stack the reader's device already has. A web font is opt-in:
    # every reader's mail client then fetches it from `web_font_url`'s host on open, which
    # learns their IP address and when they read (see README).
    font_family: str = Field(default=DEFAULT_FONT_STACK, min_length=1, max_length=300)
    web_font_name: str | None = Field(default=None, min_length=1, max_length=60)
    web_font_url: HttpUrl | None = None
    # Article pictures (og:image, media:content…) as thumbnails; an editor may still turn one
    # off per article.
    article_images: bool = True
    template: str = "digest"
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    lists: list[str] = Field(default_factory=list)
    min_articles: int = Field(default=1, ge=1, le=200)
    max_articles: int = Field(default=20, ge=1, le=200)
    max_sections: int = Field(default=4, ge=1, le=12)
    summary_words: int = Field(default=60, ge=15, le=300)
    sender: Literal["outbox", "smtp", "sendgrid", "ses", "postmark", "mailgun"] = "outbox"
    # Scheduling (`digest run`). "automatic": build and send at each scheduled time, without an
    # editor. "editorial": build a draft `lead_time` ahead, tell the editors, send at the
    # scheduled time only if an editor approved it.
    schedule: str | None = None
    timezone: str = "UTC"
    mode: Literal["automatic", "editorial"] = "editorial"
    feeds: list[HttpUrl] = Field(default_factory=list)
    # A feed's item categories are keywords; true: its categories shape sections, like tags.
    feed_categories_as_tags: bool = False
    lookback: timedelta = timedelta(days=7)
    lead_time: timedelta = timedelta(hours=2)
    editors: list[EmailStr] = Field(default_factory=list)
    # After downtime, a missed edition is still made if its time passed less than this ago.
    catch_up_grace: timedelta = timedelta(hours=6)
    # Readers' choices (digest.preferences): topics to follow, and how often. A reader who
    # chose nothing gets everything at the main frequency (the first declared, or
    # `main_frequency`); without `frequencies`, the newsletter's own schedule is the only one.
    topics: dict[str, TopicConfig] = Field(default_factory=dict)
    frequencies: dict[str, FrequencyConfig] = Field(default_factory=dict)
    main_frequency: str = ""
    # A reader whose topics have nothing in an edition: no email that time, or the top stories.
    no_topic_match: Literal["skip", "top_stories"] = "skip"
    # Reading figures (digest.clicks): links through a signed redirect on `digest serve`,
    # counted per article from distinct readers, scanners left out; per reader only if asked.
    track_clicks: bool = False
    per_reader_stats: bool = False
    # A/B subject lines: the share of the list that tests them, and the wait for the winner.
    subject_test_share: float = Field(default=0.2, gt=0, lt=1)
    subject_test_wait: timedelta = timedelta(hours=2)
    # DKIM selectors the sender signs with (`digest doctor` looks each up): a selector
    # ("s1", published as s1._domainkey.FROM-DOMAIN) or a whole record name
    # ("s1._domainkey.mail.example.org"). Empty: the sender's fixed ones (SendGrid: s1, s2).
    dkim_selectors: list[str] = Field(default_factory=list)
    # The complaint and bounce guard (digest.send.guard): a send pauses when the provider's
    # events show more complaints, or hard bounces, than these fractions of the messages, once
    # `pause_min_delivered` are known (fewer, and one reader's click would be "a rate"); the
    # counts are read at most every `pause_check_interval` while batches go out.
    complaint_pause_rate: float = 0.001
    bounce_pause_rate: float = 0.05
    pause_min_delivered: int = Field(default=1000, ge=1)
    pause_check_interval: timedelta = timedelta(seconds=5)

    @field_validator("*")
    @classmethod
    def _durations(cls, value: object) -> object:
        return _not_negative(value)

    @field_validator("complaint_pause_rate", "bounce_pause_rate")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if value >= 1:
            raise ValueError(
                f"{value:g} is not a fraction: for {value:g}% write {value / 100:g} "
                "(a fraction of the messages, not a percentage: 0.001 is 0.1%)"
            )
        if value <= 0:
            raise ValueError(f"{value:g}: must be more than 0 (0.001 is 0.1%)")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _cron_expression(value)

    @field_validator("topics", "frequencies")
    @classmethod
    def _choice_names(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            if not _NAME.match(key):
                raise ValueError(f"{key!r}: a name of lower-case letters, digits and _")
        return value

    @field_validator("main_frequency")
    @classmethod
    def _main_frequency(cls, value: str, info: ValidationInfo) -> str:
        if "frequencies" not in info.data:
            return value  # the frequencies were refused: that error says it
        frequencies = info.data["frequencies"]
        if value and value not in frequencies:
            known = ", ".join(frequencies) or "none declared"
            raise ValueError(f"{value!r} is not one of the frequencies ({known})")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone like Europe/Kyiv") from None
        return value

    @field_validator("max_articles")
    @classmethod
    def _at_least_min(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_articles", 1)
        if value < minimum:
            raise ValueError(f"must be at least min_articles ({minimum})")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def main_frequency_name(self) -> str:
        """The frequency a reader who chose none gets ("" when none is declared)."""
        return self.main_frequency or next(iter(self.frequencies), "")

    @property
    def feed_urls(self) -> list[str]:
        return [str(url) for url in self.feeds]

    @field_validator("dkim_selectors")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            if not _DKIM_NAME.fullmatch(selector):
                raise ValueError(
                    f"{selector!r}: a DKIM selector like s1, or a record name like "
                    "s1._domainkey.example.org"
                )
        return [selector.lower().rstrip(".") for selector in value]

    @field_validator("accent_color")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not _HEX_COLOUR.match(value):
            raise ValueError("must be a hex colour like #1f6feb")
        return value.lower()

    @field_validator("font_family")
    @classmethod
    def _font_stack(cls, value: str) -> str:
        if not _FONT_STACK.match(value):
            raise ValueError("must be a CSS font list like \"Georgia, 'Times New Roman', serif\"")
        return " ".join(value.split())

    @field_validator("web_font_name")
    @classmethod
    def _font_name(cls, value: str | None) -> str | None:
        if value is not None and not _FONT_NAME.match(value):
            raise ValueError("must be a font family name of letters, digits, spaces, hyphens")
        return value

    @field_validator("web_font_url")
    @classmethod
    def _font_url(cls, value: HttpUrl | None, info: ValidationInfo) -> HttpUrl | None:
        if value is None:
            return None
        if value.scheme != "https":
            raise ValueError("must be an https URL")
        if not info.data.get("web_font_name"):
            raise ValueError("needs web_font_name, the family the stylesheet defines")
        return value

    @property
    def fonts(self) -> str:
        """The font-family the email uses: the web font first when one is set."""
        if self.web_font_name and self.web_font_url:
            return f"{self.web_font_name}, {self.font_family}"
        return self.font_family

    @property
    def web_base(self) -> str:
        return str(self.base_url).rstrip("/")


# The hosts SNS serves its signing certificates and subscription links from.
SNS_HOSTS = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"


class SesSettings(BaseModel):
    """Amazon SES (v2 API through boto3): `[ses]` in digest.toml, `DIGEST_SES__…`.

    Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, an instance
    role), never from here: nothing in this section is secret."""

    model_config = ConfigDict(extra="forbid")

    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
    # Another endpoint than SES's own for the region (the tests point it at moto).
    endpoint_url: str = ""
    # The boto3 profile to take credentials from ("": boto3's default chain).
    profile: str = ""
    # The configuration set whose event destination publishes bounces, complaints and
    # deliveries to SNS: without one SES sends no events, and unknown outcomes stay unknown.
    configuration_set: str = ""
    # Readers per ledger batch (each reader is one SendEmail request): a crash can leave up
    # to this many of unknown outcome, settled by SES's events.
    batch_size: int = Field(default=1, ge=1, le=50)
    # POST /webhooks/ses takes notifications from these SNS topics only.
    sns_topic_arns: list[str] = Field(default_factory=list)
    # Bodies over this size are refused before they are read (an SNS message is at most
    # 256 KB, and its envelope adds little).
    webhook_max_bytes: int = Field(default=1_000_000, ge=10_000)
    # SNS keeps a message's signed Timestamp when it retries, and retries HTTPS deliveries
    # for an hour at most: older than this from now is refused (a MessageId already applied
    # changes nothing anyway).
    webhook_tolerance: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    # Where signing certificates and SubscribeURLs may be fetched from (https only): a full
    # match of the URL's host (and port, if any). Changed only for tests.
    sns_hosts: str = SNS_HOSTS
    # A CA bundle to verify those hosts with instead of the system's (tests only).
    sns_ca_file: Path | None = None

    @field_validator("sns_hosts")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value


def _postmark_token_from_environment() -> SecretStr:
    """POSTMARK_SERVER_TOKEN, the name Postmark's own tools read, when the setting is not
    given (`DIGEST_POSTMARK__SERVER_TOKEN` or `server_token` in `[postmark]` win)."""
    return SecretStr(os.environ.get("POSTMARK_SERVER_TOKEN", ""))


class PostmarkSettings(BaseModel):
    """Postmark (its batch API through httpx): `[postmark]` in digest.toml, `DIGEST_POSTMARK__…`."""

    model_config = ConfigDict(extra="forbid")

    host: str = "https://api.postmarkapp.com"
    server_token: SecretStr = Field(default_factory=_postmark_token_from_environment)
    # Postmark sends bulk mail through a Broadcast message stream, apart from transactional
    # mail (its reputation and its unsubscribe handling are the stream's own).
    message_stream: str = Field(default="broadcast", min_length=1, max_length=100)
    # Messages per batch call (Postmark takes at most 500, and 50 MB): a call whose answer is
    # lost leaves up to this many readers of unknown outcome until the Delivery events come.
    batch_size: int = Field(default=500, ge=1, le=500)
    # The webhook (POST /webhooks/postmark): Postmark signs nothing, so the URL it is given
    # carries these as HTTP basic-auth credentials (https://USER:PASSWORD@host/webhooks/postmark),
    # and a post without them is refused.
    webhook_username: str = ""
    webhook_password: SecretStr = SecretStr("")
    # Posts whose client address is not in these (Postmark publishes its webhook addresses)
    # are refused; empty: from anywhere, with the credentials.
    webhook_networks: list[str] = Field(default_factory=list)
    webhook_max_bytes: int = Field(default=1_000_000, ge=10_000)
    # An event whose own time (BouncedAt, DeliveredAt, ChangedAt…) is further than this from
    # now is refused: Postmark retries a failed post for about half a day, and applied event
    # ids are remembered for 30 days, so a captured post cannot be replayed once forgotten.
    webhook_tolerance: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))

    @field_validator("webhook_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _ip_networks(value, "203.0.113.7 or 198.51.100.0/24")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("an http(s) URL, like https://api.postmarkapp.com")
        return value.rstrip("/")


# Mailgun's API hosts by the region a sending domain was created in (its EU domains are
# served only from the EU host).
MAILGUN_HOSTS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


def _environment_secret(name: str) -> Any:
    """A secret's default read from an environment variable of the provider's own name (as
    its tools and examples name it), so that it need not be written into digest.toml."""
    return lambda: SecretStr(os.environ.get(name, ""))


class MailgunSettings(BaseModel):
    """Mailgun (batch sending through httpx): `[mailgun]` in digest.toml, `DIGEST_MAILGUN__…`."""

    model_config = ConfigDict(extra="forbid")

    # "us" or "eu": where the sending domain was created; `host` overrides it (a proxy, tests).
    region: Literal["us", "eu"] = "us"
    host: str = ""
    # The sending domain as Mailgun knows it (mg.example.org): the API path names it.
    domain: str = ""
    # Recipients per call (Mailgun takes at most 1000): a call whose answer is lost leaves up
    # to this many readers of unknown outcome until Mailgun's events settle them.
    batch_size: int = Field(default=1000, ge=1, le=1000)
    api_key: SecretStr = Field(default_factory=_environment_secret("MAILGUN_API_KEY"))
    # The account's HTTP webhook signing key (Mailgun's Webhooks page), for POST
    # /webhooks/mailgun.
    webhook_signing_key: SecretStr = Field(
        default_factory=_environment_secret("MAILGUN_WEBHOOK_SIGNING_KEY")
    )
    # A signed timestamp further than this from now is refused; a token is accepted once.
    webhook_tolerance: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    # Mailgun posts one event a request, a few kB.
    webhook_max_bytes: int = Field(default=1_000_000, ge=10_000)

    @field_validator("host")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError("must be a base URL like https://api.mailgun.net")
        return value.rstrip("/")

    @field_validator("domain")
    @classmethod
    def _domain_name(cls, value: str) -> str:
        if value and not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", value):
            raise ValueError("must be a domain name like mg.example.org")
        return value.lower()

    @property
    def api_base(self) -> str:
        return self.host or MAILGUN_HOSTS[self.region]


class Settings(BaseSettings):
    """Everything `digest` can be configured with; see README for the keys."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
    )
    toml_path: ClassVar[Path | None] = None

    database_url: str = ""
    # SQLite: seconds a statement waits for another process's write lock before it fails
    # ("database is locked").
    database_busy_timeout: float = Field(default=10.0, gt=0, le=3600)
    templates_dir: Path | None = None
    secret_key: SecretStr = SecretStr("")
    fetch_timeout: float = Field(default=20.0, gt=0, le=300)
    fetch_max_bytes: int = Field(default=5_000_000, ge=10_000)
    # Seconds one download may take in all (a server trickling bytes is cut off), and one
    # `digest fetch` or one `digest run` tick's fetching (the feeds left are skipped).
    fetch_deadline: float = Field(default=30.0, gt=0, le=3600)
    fetch_tick_budget: float = Field(default=60.0, gt=0, le=86400)
    # Fetched URLs (feeds, their items' pages, redirects, `digest add`) may reach only public
    # addresses, and these (for intranet feeds): addresses or CIDR blocks, e.g. ["10.1.0.0/16"].
    fetch_allowed_networks: list[str] = Field(default_factory=list)
    # Summaries: "extractive" (offline, the default), "extractive-one" (one sentence), or "llm"
    # (any OpenAI-compatible chat-completions API: OpenAI, Ollama, vLLM, llama.cpp's server…).
    summarizer: Literal["extractive", "extractive-one", "llm"] = "extractive"
    # Sections: "" groups untagged articles by TF-IDF (offline, fast, the default); a folder
    # holding a static embedding model (made once by `digest themes-model FOLDER`) mixes in its
    # similarity: needs `pip install 'digest[embeddings]'`.
    themes_embedding_model: str = ""
    llm_base_url: str = "http://127.0.0.1:11434/v1"
    llm_model: str = "llama3.1"
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_concurrency: int = Field(default=4, ge=1, le=64)
    llm_max_attempts: int = Field(default=3, ge=1, le=10)
    # Where editors open the local preview (the link in draft notifications).
    editor_url: str = "http://127.0.0.1:8080"
    # `digest serve`. Bound anywhere but loopback, editor pages need a login: a password
    # (its hash, from `digest hash-password`) or a token.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    editor_password_hash: SecretStr = SecretStr("")
    editor_token: SecretStr = SecretStr("")
    # SendGrid's Event Webhook verification key (base64 DER or PEM, from SendGrid's settings).
    sendgrid_webhook_public_key: str = ""
    # Bodies over this size are refused before they are read (SendGrid posts far less).
    sendgrid_webhook_max_bytes: int = Field(default=5_000_000, ge=10_000)
    # A signed timestamp further than this from now is refused: an old post cannot be replayed.
    sendgrid_webhook_tolerance: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    # Host names the web app answers to besides loopback ones, web_host and the newsletters'
    # base_url hosts (anything else is refused: DNS rebinding). Off loopback, when set, only
    # these (and loopback names) are answered.
    web_allowed_hosts: list[str] = Field(default_factory=list)
    # A proxy in front terminates TLS: needed to serve off loopback (the Secure session cookie
    # never comes back over plain http); editors must log in even on loopback; the proxies'
    # X-Forwarded-For / -Proto are believed from web_trusted_proxies only.
    web_behind_tls_proxy: bool = False
    web_trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    confirm_link_lifetime: timedelta = timedelta(days=2)
    subscribe_limit_per_hour: int = Field(default=5, ge=1)
    newsletters: dict[str, NewsletterConfig] = Field(default_factory=dict)

    # Sending
    outbox_dir: Path = Path("outbox")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_ca_file: Path | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    sendgrid_host: str = "https://api.sendgrid.com"
    sendgrid_api_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("SENDGRID_API_KEY", "DIGEST_SENDGRID_API_KEY"),
    )
    ses: SesSettings = Field(default_factory=SesSettings)
    postmark: PostmarkSettings = Field(default_factory=PostmarkSettings)
    mailgun: MailgunSettings = Field(default_factory=MailgunSettings)
    send_timeout: float = Field(default=60.0, gt=0)
    send_max_attempts: int = Field(default=6, ge=1, le=20)
    send_retry_delay: float = Field(default=1.0, ge=0)
    send_retry_max_delay: float = Field(default=120.0, ge=0)
    # PostgreSQL: how long a host joining a shared send waits for the edition's lock, held by
    # another host's set-up (recording the queue) or finish, before it reports "busy".
    send_lock_wait: float = Field(default=30.0, ge=0)
    # A batch whose request was made but whose answer was never recorded: "skip" never risks a
    # second copy; "resend" never risks a missed reader.
    unknown_batch_policy: Literal["skip", "resend"] = "skip"
    # SendGrid: how long a batch of unknown outcome waits for the Event Webhook to say which
    # of its readers SendGrid took, before the policy above decides for the rest.
    unknown_settle_wait: timedelta = timedelta(hours=1)
    # Temporary refusals (SMTP 4xx) are retried with backoff, then recorded failed.
    deferral_max_attempts: int = Field(default=5, ge=1, le=100)
    deferral_max_age: timedelta = timedelta(hours=24)
    deferral_first_delay: timedelta = timedelta(minutes=5)

    # Click tracking (newsletters' track_clicks; digest.clicks). A click this soon after its
    # message was sent is taken for a mail scanner's: security gateways (Defender Safe Links,
    # Mimecast, Proofpoint…) open every link while the message is being delivered, within
    # seconds, and a person opens, reads and clicks later; a minute leaves out the scanners'
    # slower queues and costs few real clicks.
    click_scanner_delay: timedelta = timedelta(seconds=60)
    # How long after an edition's first click its salt is kept: then it is forgotten, the
    # stored keys can no longer be linked to any delivery, and later clicks are not counted.
    click_key_lifetime: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))

    # `digest doctor` (digest.doctor) and the check before a newsletter's first send. DNS is
    # asked of these servers ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53"; empty:
    # the system's, from /etc/resolv.conf), each query given up after dns_timeout seconds.
    dns_nameservers: list[str] = Field(default_factory=list)
    dns_timeout: float = Field(default=5.0, gt=0, le=60)
    # A newsletter's first send (no edition of it sent before, through any sender but the
    # outbox) is refused while the doctor finds errors; `digest send --force` overrides once.
    first_send_check: bool = True

    @field_validator("web_allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _HOST_PATTERN.fullmatch(name):
                raise ValueError(
                    f"{name!r}: a host name without scheme or port, like editor.example.org, "
                    "*.example.org or [::1]"
                )
        return [name.lower() for name in value]

    @field_validator("dns_nameservers")
    @classmethod
    def _nameservers(cls, value: list[str]) -> list[str]:
        from digest.doctor.nameservers import parse_nameserver

        for entry in value:
            parse_nameserver(entry)  # ValueError names the entry
        return value

    @field_validator("web_trusted_proxies", "fetch_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _ip_networks(value, "10.1.0.0/16 or 127.0.0.1")

    @field_validator("*")
    @classmethod
    def _durations(cls, value: object) -> object:
        return _not_negative(value)

    @field_validator("newsletters")
    @classmethod
    def _named(cls, value: dict[str, NewsletterConfig]) -> dict[str, NewsletterConfig]:
        for key, newsletter in value.items():
            if not _NAME.match(key):
                raise ValueError(f"{key!r}: names are lower-case letters, digits and _")
            newsletter.name = key
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
        # Names that are not settings are reported by load_settings (check_names), each
        # blamed on its variable or .env line, not failed on as if the config file had them.
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            KnownValuesOnly(settings_cls, env_settings),
            KnownValuesOnly(settings_cls, dotenv_settings),
        ]
        if cls.toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)

    def newsletter(self, name: str | None) -> NewsletterConfig:
        """The named newsletter, or the only one when no name is given."""
        if name is None:
            if len(self.newsletters) == 1:
                return next(iter(self.newsletters.values()))
            if not self.newsletters:
                raise ConfigError("no newsletter is configured: add a [newsletters.NAME] table")
            names = ", ".join(sorted(self.newsletters))
            raise ConfigError(f"several newsletters are configured ({names}): pass --newsletter")
        try:
            return self.newsletters[name]
        except KeyError:
            known = ", ".join(sorted(self.newsletters)) or "none"
            raise ConfigError(f"no newsletter named {name!r} (configured: {known})") from None

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, with secrets and passwords hidden."""
        data = self.model_dump(mode="json")
        for key in type(self).model_fields:
            secret = getattr(self, key)
            if isinstance(secret, SecretStr):
                data[key] = "**********" if secret.get_secret_value() else ""
        data["database_url"] = mask_url_password(self.database_url)
        return data


def mask_url_password(url: str) -> str:
    """Hide the password in a database URL so it can be printed or logged: also with no user
    name (`postgresql://:pw@h/db`), an unencoded `@` in it, or `?password=` in the query."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return _mask_by_hand(url)
    if parsed.password is not None and parsed.host and "@" in parsed.host:
        # An unencoded "@" in the password: the host is what follows the last one.
        rest, _, host = parsed.host.rpartition("@")
        parsed = parsed.set(password=f"{parsed.password}@{rest}", host=host)
    query = {
        key: "***" if key.lower() in _PASSWORD_PARAMETERS else value
        for key, value in parsed.query.items()
    }
    if parsed.password is None and query == dict(parsed.query):
        return url  # nothing secret (and SQLite paths stay as written)
    shown = parsed.set(query=query).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", "=***")  # the query's mask, as the password's


def _mask_by_hand(url: str) -> str:
    """For what SQLAlchemy cannot parse: everything between "user:" and the last "@"."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not (separator and at and ":" in userinfo):
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def resolve_config_path(explicit: Path | None) -> Path | None:
    """--config, else DIGEST_CONFIG, else ./digest.toml if it exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: config file not found")
        return explicit
    from_env = os.environ.get("DIGEST_CONFIG")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (from DIGEST_CONFIG)")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(config_path: Path | None = None) -> Settings:
    """Read settings from the config file, .env and the environment, or fail naming the key."""
    path = resolve_config_path(config_path)
    bound = type("Settings", (Settings,), {"toml_path": path})
    origin = str(path) if path else "settings"
    origins = Origins.read(Settings, path, os.environ, Path(".env"))
    for warning in check_names(Settings, origins):
        log.warning("%s", warning)
    try:
        settings: Settings = bound()
    except ValidationError as error:
        raise ConfigError(_describe(origins, error)) from None
    except SettingsError as error:
        raise ConfigError(_unparsed(origins, error)) from None
    except ValueError as error:  # TOML syntax errors
        raise ConfigError(f"{origin}: {error}") from None
    if not settings.database_url:
        base = path.parent if path else Path.cwd()
        settings.database_url = f"sqlite:///{(base / DEFAULT_DATABASE_FILE).resolve()}"
    return settings


def _describe(origins: Origins, error: ValidationError) -> str:
    """One line per problem, naming where the value came from (variable, .env line or file)
    and the key."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        reason = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            reason = "unknown setting" + _nearest_key(problem["loc"])
        elif problem["type"].startswith("time_delta"):
            reason = (
                f'{problem["input"]!r} is not a duration: write it as "02:00:00" '
                '(hours:minutes:seconds) or in ISO 8601, like "PT2H" or "P7D"'
            )
        lines.append(f"{origins.blame(problem['loc'])}: {key}: {reason}")
    return "\n".join(lines)


def _unparsed(origins: Origins, error: SettingsError) -> str:
    """A list or table setting given in the environment or .env that is not JSON, named as
    its variable: pydantic-settings names only the field and its own source class."""
    found = re.search(r'field "([^"]+)"', str(error))
    if found is None:
        return str(error)
    key = found.group(1)
    return (
        f"{origins.blame((key,))}: {key}: not valid JSON (a list is written like "
        '["10.1.0.0/16"], a table like {"key": "value"})'
    )


def _nearest_key(loc: tuple[str | int, ...]) -> str:
    """ "; did you mean accent_color?" for a misspelt key in the config file."""
    import difflib

    model: type[BaseModel] = NewsletterConfig if loc[0] == "newsletters" else Settings
    if len(loc) == 5 and loc[2] in ("topics", "frequencies"):  # newsletters.N.topics.KEY.field
        model = TopicConfig if loc[2] == "topics" else FrequencyConfig
    found = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"; did you mean {found[0]}?" if found else ""
