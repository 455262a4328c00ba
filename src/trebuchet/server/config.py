"""Settings, read once at the edge: flag > environment (``TREBUCHET_*``) > file > default.

The file is TOML (``--config path`` or ``TREBUCHET_CONFIG``), with the same keys as the
fields below, e.g. ``db = "postgresql://..."`` or ``max_body_bytes = 2097152``.  Every
value is checked against its field's type and range when the settings are loaded; a
wrong one is refused with the setting's name and where it came from.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec

DEFAULT_DB = "sqlite:///./trebuchet.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_BULK_LIMIT = 50
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
DEFAULT_CACHE_SECONDS = 30.0
DEFAULT_AUTH_FAILURE_LIMIT_IP = 50
DEFAULT_AUTH_FAILURE_LIMIT_TOKEN = 10
DEFAULT_AUTH_FAILURE_WINDOW_SECONDS = 60.0
DEFAULT_KEEP_ALIVE_SECONDS = 5.0
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_MAX_HEADERS = 100
DEFAULT_BODY_MIN_BYTES_PER_SECOND = 1024
DEFAULT_READY_TIMEOUT_SECONDS = 2.0
DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"
ENV_PREFIX = "TREBUCHET_"
# Delivery engine defaults (docs/callbacks.md, docs/sandbox.md).
DEFAULT_CARRIER = "sandbox"
DEFAULT_SEND_CONCURRENCY = 256
DEFAULT_CALLBACK_CONCURRENCY = 256
# Callbacks in flight at once to one receiver (host:port) and for one user, across all
# workers: a slow receiver or a busy user takes at most this many of the slots.
DEFAULT_CALLBACK_CONCURRENCY_PER_DESTINATION = 64
DEFAULT_CALLBACK_CONCURRENCY_PER_USER = 128
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_POLL_INTERVAL = 0.2
DEFAULT_POLL_INTERVAL_LISTENING = 5.0
DEFAULT_DRAIN_SECONDS = 10.0
DEFAULT_SEND_MAX_ATTEMPTS = 8
DEFAULT_CALLBACK_RETRY_WINDOW = 24 * 3600.0
# Dead letters and callback ordering (docs/operations.md, docs/callbacks.md).
DEFAULT_CRASH_MAX_ATTEMPTS = 5
DEFAULT_CALLBACK_ORDER_HOLD_ROUNDS = 3
# Media defaults (docs/media.md); sizes in bytes (1 MB = 1024 * 1024 here).
DEFAULT_MEDIA_DIR = "./media"
DEFAULT_MEDIA_MAX_UPLOAD_BYTES = 65 * 1024 * 1024
DEFAULT_MMS_MAX_EXTERNAL_BYTES = 1536 * 1024
DEFAULT_MMS_MAX_OWN_BYTES = 2 * 1024 * 1024
DEFAULT_MMS_MAX_TOTAL_BYTES = 2 * 1024 * 1024
DEFAULT_MEDIA_FETCH_CONNECT_TIMEOUT = 5.0
DEFAULT_MEDIA_FETCH_READ_TIMEOUT = 10.0
DEFAULT_MEDIA_FETCH_TIMEOUT = 30.0
DEFAULT_TOLL_FREE_MMS_ERROR = "media-not-supported"
# Where media files live (docs/configuration.md, docs/scaling.md).
MEDIA_BACKENDS = ("filesystem", "s3")
DEFAULT_MEDIA_S3_REGION = "us-east-1"
# Auto-replies to opt-out keywords (docs/messaging-controls.md); GSM-7, one segment each.
DEFAULT_OPT_OUT_STOP_REPLY = (
    "You have been unsubscribed and will receive no more messages from us. "
    "Reply START to resubscribe."
)
DEFAULT_OPT_OUT_START_REPLY = (
    "You have been resubscribed and will receive messages from us again. Reply STOP to unsubscribe."
)
DEFAULT_OPT_OUT_HELP_REPLY = "Reply STOP to unsubscribe or START to resubscribe."
# Retention (spec 3.10) and pruning defaults, in days (docs/operations.md); 0 keeps forever.
DEFAULT_RETENTION_TEXT_DAYS = 3.0
DEFAULT_RETENTION_RECORD_DAYS = 30.0
DEFAULT_RETENTION_DELIVERED_EVENT_DAYS = 7.0
DEFAULT_RETENTION_CARRIER_REF_DAYS = 3.0
DEFAULT_HOUSEKEEPING_INTERVAL = 60.0
DEFAULT_HOUSEKEEPING_BATCH = 500
# Housekeeping pacing (docs/operations.md): the share of its time a housekeeper may spend
# in write transactions, and the smaller batch SQLite's one write lock asks for.
DEFAULT_HOUSEKEEPING_DUTY_CYCLE = 0.1
DEFAULT_HOUSEKEEPING_BATCH_SQLITE = 100


# Ranges of numeric settings, checked by msgspec when settings are loaded.
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
NotNegative = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]  # 0 turns the timeout or cache off
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
Rate = Annotated[float, msgspec.Meta(ge=0)]  # per second; 0 = unlimited
Days = Annotated[float, msgspec.Meta(ge=0)]  # 0 = keep forever
Share = Annotated[float, msgspec.Meta(gt=0, le=1)]  # a fraction of the time, above 0
PortNumber = Annotated[int, msgspec.Meta(ge=0, le=65535)]  # 0 = any free port
ReplyText = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]  # an SMS's limit
SqliteSynchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    host: str = DEFAULT_HOST
    port: PortNumber = DEFAULT_PORT
    # ``serve``'s processes (docs/scaling.md): API processes sharing the port, and
    # delivery processes running the engine.  ``None`` picks from the core count
    # (``serving/topology.py``); ``worker_processes = 0`` runs the engine inside the API
    # processes, and with one API process that is one process, no supervisor.
    api_processes: NotNegative | None = None
    worker_processes: NotNegative | None = None
    # The older name of ``api_processes`` (used when that is not set and this is above 1).
    workers: AtLeastOne = 1
    # Scheme and host used in Location and Link URLs; by default taken from each request.
    public_url: str | None = None
    # Peers whose X-Forwarded-Proto and X-Forwarded-For are believed (the load balancer's
    # addresses or networks, comma-separated; "*" for any, "" for none): the scheme of the
    # Link and Location URLs and the client IP failed-auth throttling counts come from them.
    trusted_proxies: str = DEFAULT_TRUSTED_PROXIES
    max_body_bytes: AtLeastOne = DEFAULT_MAX_BODY_BYTES
    bulk_limit: AtLeastOne = DEFAULT_BULK_LIMIT
    default_page_size: AtLeastOne = DEFAULT_PAGE_SIZE
    max_page_size: AtLeastOne = MAX_PAGE_SIZE
    # How long a verified credential or number ownership is trusted without a new lookup.
    cache_seconds: Seconds = DEFAULT_CACHE_SECONDS
    # Create a demo user with two numbers when the store is empty (``serve`` only; on in
    # the development start, see ``development_start``).
    demo_user: bool = False
    # Let users claim any free number with ``POST /phoneNumbers``; when off, numbers come
    # from the operator's inventory (CLI ``numbers`` or the admin API).
    numbers_self_service: bool = False
    sqlite_synchronous: SqliteSynchronous = "NORMAL"
    db_pool_size: AtLeastOne = 10
    # On PostgreSQL, hear other processes' new work through LISTEN/NOTIFY (one extra
    # connection per process) instead of by polling alone; docs/scaling.md.
    db_listen: bool = True
    # -- limits, hardening and observability --
    # Per-user request rate limit (0 = off): a token bucket of ``rate_limit_burst`` tokens
    # (0 = one second's worth) refilled at ``rate_limit_per_second``.
    rate_limit_per_second: Rate = 0.0
    rate_limit_burst: NotNegative = 0
    # Where rate-limit and failed-auth counters live: "memory" (one process) or "redis".
    limiter_backend: str = "memory"
    redis_url: str | None = None
    # Failed authentications tolerated per client IP / per API token in the window
    # before answering 429 without checking credentials (0 = no throttling).
    auth_failure_limit_ip: NotNegative = DEFAULT_AUTH_FAILURE_LIMIT_IP
    auth_failure_limit_token: NotNegative = DEFAULT_AUTH_FAILURE_LIMIT_TOKEN
    auth_failure_window_seconds: PositiveSeconds = DEFAULT_AUTH_FAILURE_WINDOW_SECONDS
    # Connection limits applied by ``serve``.
    keep_alive_seconds: Seconds = DEFAULT_KEEP_ALIVE_SECONDS
    header_timeout_seconds: Seconds = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: Seconds = DEFAULT_BODY_TIMEOUT_SECONDS
    max_header_bytes: AtLeastOne = DEFAULT_MAX_HEADER_BYTES
    max_headers: AtLeastOne = DEFAULT_MAX_HEADERS
    # -- the HTTP edge and the limiter's backend (docs/security.md) --
    # After ``body_timeout_seconds``, a body must keep arriving at this average rate
    # (bytes per second since its headers, 0 = no minimum); see docs/security.md.
    body_min_bytes_per_second: NotNegative = DEFAULT_BODY_MIN_BYTES_PER_SECOND
    # When a Redis limiter stops answering: "open" lets requests through unlimited,
    # "closed" answers 503 to every request that needs it.  (At start-up, a Redis that
    # does not answer always stops the server.)
    limiter_failure_mode: str = "open"
    log_format: str = "text"
    log_level: str = "INFO"
    access_log: bool = True
    metrics_enabled: bool = True
    # ``trebuchet worker``'s own metrics port (0 = none) and interface; ``serve`` shows its
    # delivery processes' metrics at ``/metrics`` on its own port instead.
    worker_metrics_port: PortNumber = 0
    worker_metrics_host: str = DEFAULT_HOST
    ready_timeout_seconds: PositiveSeconds = DEFAULT_READY_TIMEOUT_SECONDS
    # -- delivery engine --
    # Run the send and callback workers inside ``serve`` (``trebuchet worker`` runs more).
    engine: bool = True
    # The carrier of messages no route picks: "sandbox" or a name from ``carriers``.
    carrier: str = DEFAULT_CARRIER
    # Named carrier configurations (TOML ``[carriers.NAME]`` tables with a ``type``) and
    # the routes that pick one per message (``[[routes]]``); see docs/carriers.md.  From
    # the environment, as JSON: TREBUCHET_CARRIERS='{"smsc": {"type": "smpp", ...}}'.
    carriers: Mapping[str, Any] = field(default_factory=dict)
    routes: tuple[Mapping[str, Any], ...] = ()
    send_concurrency: AtLeastOne = DEFAULT_SEND_CONCURRENCY
    callback_concurrency: AtLeastOne = DEFAULT_CALLBACK_CONCURRENCY
    callback_concurrency_per_destination: AtLeastOne = DEFAULT_CALLBACK_CONCURRENCY_PER_DESTINATION
    callback_concurrency_per_user: AtLeastOne = DEFAULT_CALLBACK_CONCURRENCY_PER_USER
    # A claimed item is someone else's to take when its worker stops renewing this lease.
    lease_seconds: PositiveSeconds = DEFAULT_LEASE_SECONDS
    # Seconds between looks for due work when idle.  While LISTEN/NOTIFY works, new work
    # wakes the workers, they look when the next scheduled or retried item becomes due
    # (never sooner than ``poll_interval``), and at the latest every
    # ``poll_interval_listening``.
    poll_interval: PositiveSeconds = DEFAULT_POLL_INTERVAL
    poll_interval_listening: PositiveSeconds = DEFAULT_POLL_INTERVAL_LISTENING
    drain_seconds: Seconds = DEFAULT_DRAIN_SECONDS
    send_max_attempts: AtLeastOne = DEFAULT_SEND_MAX_ATTEMPTS
    # Messages per second per sending number (0 = unlimited), and per-number overrides
    # written "+15550001111=1,+15550002222=0.5".  Over the rate, messages wait.
    sender_rate: Rate = 0.0
    sender_rates: str = ""
    # How long (seconds) a callback event is retried before it is recorded as failed.
    callback_retry_window: Seconds = DEFAULT_CALLBACK_RETRY_WINDOW
    # Sign callbacks with each user's callback secret (Trebuchet-Signature header).
    callback_signing: bool = False
    # What callbacks and MMS media fetches may reach besides global addresses: loopback
    # (127.0.0.0/8, ::1, 0.0.0.0), and every other non-global range (RFC 1918, shared
    # 100.64.0.0/10, link-local and cloud metadata, unique-local, ...).  docs/callbacks.md.
    outbound_allow_loopback: bool = False
    outbound_allow_private: bool = False
    # Deprecated: both of the above together.
    callback_allow_private: bool = False
    # Bearer token for the /v1/admin endpoints; they answer 404 while it is unset.
    admin_token: str | None = None
    # Crashes of the engine's own code on one message or event before it is parked.
    crash_max_attempts: AtLeastOne = DEFAULT_CRASH_MAX_ATTEMPTS
    # A message's later events wait for an earlier pending one only during its first
    # rounds (0: never wait).  docs/callbacks.md.
    callback_order_hold_rounds: NotNegative = DEFAULT_CALLBACK_ORDER_HOLD_ROUNDS
    # Per-carrier failover settings (TOML ``[failover.NAME]`` tables: ``send_timeout``,
    # ``on_timeout``, ``circuit_failures``, ``circuit_open_seconds``); docs/carriers.md.
    failover: Mapping[str, Any] = field(default_factory=dict)
    # -- media (docs/media.md) --
    # Directory of uploaded and received media files (one subdirectory per user).
    media_dir: str = DEFAULT_MEDIA_DIR
    # "filesystem" (media_dir) or "s3": an S3-compatible bucket several machines share.
    # Credentials come from the AWS chain (AWS_ACCESS_KEY_ID, ...), never from here.
    media_backend: str = "filesystem"
    media_s3_bucket: str = ""
    # "" = AWS's own endpoint for the region; else e.g. http://minio.internal:9000.
    media_s3_endpoint_url: str = ""
    media_s3_region: str = DEFAULT_MEDIA_S3_REGION
    # Put before every key (e.g. "trebuchet/"), to share a bucket with other data.
    media_s3_prefix: str = ""
    media_max_upload_bytes: AtLeastOne = DEFAULT_MEDIA_MAX_UPLOAD_BYTES
    # MMS limits: per external item, per item from the user's own media, per message.
    mms_max_external_bytes: AtLeastOne = DEFAULT_MMS_MAX_EXTERNAL_BYTES
    mms_max_own_bytes: AtLeastOne = DEFAULT_MMS_MAX_OWN_BYTES
    mms_max_total_bytes: AtLeastOne = DEFAULT_MMS_MAX_TOTAL_BYTES
    # Fetching external MMS media: seconds to connect, between reads, in all.
    media_fetch_connect_timeout: PositiveSeconds = DEFAULT_MEDIA_FETCH_CONNECT_TIMEOUT
    media_fetch_read_timeout: PositiveSeconds = DEFAULT_MEDIA_FETCH_READ_TIMEOUT
    media_fetch_timeout: PositiveSeconds = DEFAULT_MEDIA_FETCH_TIMEOUT
    # Error code for MMS from a toll-free number ("" lets toll-free numbers send MMS).
    toll_free_mms_error: str = DEFAULT_TOLL_FREE_MMS_ERROR
    # -- messaging controls (docs/messaging-controls.md) --
    # Words that count as STOP, START or HELP besides the standard ones, comma-separated
    # ("ARRET,STOPP"); an inbound text that is one of them as a whole is that keyword.
    opt_out_extra_stop_words: str = ""
    opt_out_extra_start_words: str = ""
    opt_out_extra_help_words: str = ""
    # The platform's auto-replies to each keyword (a number can turn them off).
    opt_out_stop_reply: ReplyText = DEFAULT_OPT_OUT_STOP_REPLY
    opt_out_start_reply: ReplyText = DEFAULT_OPT_OUT_START_REPLY
    opt_out_help_reply: ReplyText = DEFAULT_OPT_OUT_HELP_REPLY
    # -- retention and housekeeping (docs/operations.md) --
    # Days a message keeps its text, and days its record is kept (with its events,
    # attempts, carrier refs and received media); 0 keeps it forever.
    retention_text_days: Days = DEFAULT_RETENTION_TEXT_DAYS
    retention_record_days: Days = DEFAULT_RETENTION_RECORD_DAYS
    # Days a delivered callback event (and its attempts) is kept; 0 keeps it with its message.
    retention_delivered_event_days: Days = DEFAULT_RETENTION_DELIVERED_EVENT_DAYS
    # Days a carrier reference waits for its receipt; 0 waits as long as the message lives.
    retention_carrier_ref_days: Days = DEFAULT_RETENTION_CARRIER_REF_DAYS
    # Seconds between housekeeping rounds in each engine process (0 = none in this one),
    # and rows per housekeeping transaction.
    housekeeping_interval: Seconds = DEFAULT_HOUSEKEEPING_INTERVAL
    housekeeping_batch: AtLeastOne = DEFAULT_HOUSEKEEPING_BATCH
    # On SQLite, rows per housekeeping transaction at most (the one write lock is shared
    # with the group commit of accepted messages).
    housekeeping_batch_sqlite: AtLeastOne = DEFAULT_HOUSEKEEPING_BATCH_SQLITE
    # The share of its time a housekeeper (and ``trebuchet purge``) spends in its write
    # transactions: after each batch it pauses for the batch's time x (1/share - 1);
    # 1 runs the batches back to back.
    housekeeping_duty_cycle: Share = DEFAULT_HOUSEKEEPING_DUTY_CYCLE
    # -- web console (docs/console.md) --
    # Serve the console at /console (and redirect / there).
    console_enabled: bool = True
    # Minutes a console session lives without a request before it must sign in again.
    console_idle_minutes: PositiveSeconds = 30.0


_BOOL_WORDS = {"yes": True, "on": True, "no": False, "off": False}


def _from_text(name: str, raw: str) -> Any:
    """A value written as text (the environment, a quoted TOML value): JSON for tables and
    lists, the usual words for booleans, any case for a choice written in capitals;
    msgspec turns the rest into numbers when it checks them."""
    hint = _FIELD_TYPES[name]
    if get_origin(hint) in (Mapping, tuple):
        return json.loads(raw)
    if hint is bool:
        return _BOOL_WORDS.get(raw.strip().lower(), raw.strip())
    if get_origin(hint) is Literal:
        return raw.strip().upper()
    return raw


# Each field's type, ranges left out (msgspec checks those from the annotations).
_FIELD_TYPES = get_type_hints(Settings)
_ERROR_PATH = re.compile(r" - at `\$\.(\w+)`")
_GOT = re.compile(r", got `[^`]*`$")


def _expected(name: str, problem: str) -> str:
    """msgspec's complaint about a setting, as what the setting takes."""
    hint = _FIELD_TYPES[name]
    if get_origin(hint) is Literal:
        return f"Expected one of {', '.join(get_args(hint))}"
    return _GOT.sub("", problem)


def proxy_hosts(trusted: str) -> list[str]:
    """The addresses and networks of ``trusted_proxies``, blanks left out."""
    return [item.strip() for item in trusted.split(",") if item.strip()]


def _bad_proxy(trusted: str) -> str | None:
    """The first entry of ``trusted_proxies`` that is no address, network or ``*``."""
    for item in proxy_hosts(trusted):
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return item
    return None


def _checked(values: Mapping[str, Any], sources: Mapping[str, str]) -> Settings:
    """``values`` as Settings, each checked against its field; a wrong one is named."""
    coerced = {}
    for name, value in values.items():
        try:
            coerced[name] = _from_text(name, value) if isinstance(value, str) else value
        except ValueError as exc:
            raise ValueError(f"setting {name} ({sources[name]}) is not valid JSON: {exc}") from None
    try:
        settings = msgspec.convert(coerced, Settings, strict=False)
    except msgspec.ValidationError as exc:
        match = _ERROR_PATH.search(str(exc))
        if match is None or match[1] not in sources:
            raise ValueError(f"invalid settings: {exc}") from None
        name = match[1]
        raise ValueError(
            f"setting {name} ({sources[name]}): {_expected(name, str(exc)[: match.start()])},"
            f" got {values[name]!r}"
        ) from None
    bad_proxy = _bad_proxy(settings.trusted_proxies)
    if bad_proxy is not None:
        raise ValueError(
            f"setting trusted_proxies ({sources.get('trusted_proxies', 'default')}): "
            f"{bad_proxy!r} is not an IP address, a network or *"
        )
    if settings.default_page_size > settings.max_page_size:
        raise ValueError(
            f"setting default_page_size ({settings.default_page_size}) is larger than "
            f"max_page_size ({settings.max_page_size})"
        )
    _check_media(settings, values, sources)
    return settings


def _check_media(settings: Settings, values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    if settings.media_backend not in MEDIA_BACKENDS:
        where = sources.get("media_backend", "default")
        raise ValueError(
            f"setting media_backend ({where}): Expected one of {', '.join(MEDIA_BACKENDS)},"
            f" got {values.get('media_backend', settings.media_backend)!r}"
        )
    if settings.media_backend == "s3" and not settings.media_s3_bucket.strip():
        raise ValueError("setting media_backend = s3 needs media_s3_bucket (the bucket's name)")


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = config_file or environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        with open(path, "rb") as fh:
            file_values = tomllib.load(fh)
        unknown = set(file_values) - names
        if unknown:
            raise ValueError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
        values.update(file_values)
        sources.update(dict.fromkeys(file_values, f"in {path}"))
    for name in names:
        env_value = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None:
            values[name] = env_value
            sources[name] = f"{ENV_PREFIX}{name.upper()}"
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = f"--{name.replace('_', '-')}"
    return _checked(values, sources)


# The development start: ``trebuchet serve`` with nothing configured is someone trying
# Trebuchet on their own machine, so it turns on what a first try needs.  Anything
# configured (a file, any ``TREBUCHET_*`` variable, any flag but these) turns it off.
DEVELOPMENT_SETTINGS: Mapping[str, Any] = {
    "demo_user": True,
    "numbers_self_service": True,
    "outbound_allow_loopback": True,
}
DEVELOPMENT_FLAGS = frozenset({"port"})


def development_start(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> bool:
    """Whether nothing is configured: no file, no ``TREBUCHET_*`` variable (even one that
    names no setting: a misspelt one is still configuration), no flag but ``--port``."""
    environ = os.environ if environ is None else environ
    if config_file or any(name.startswith(ENV_PREFIX) for name in environ):
        return False
    return all(value is None for name, value in flags.items() if name not in DEVELOPMENT_FLAGS)


def development_settings(settings: Settings) -> Settings:
    return replace(settings, **DEVELOPMENT_SETTINGS)


def dump_settings(settings: Settings) -> str:
    """``settings`` as JSON, for the processes ``serve --workers`` starts."""
    return json.dumps(asdict(settings))


def restore_settings(text: str) -> Settings:
    """The inverse of :func:`dump_settings`."""
    values = json.loads(text)
    values["routes"] = tuple(values["routes"])
    return Settings(**values)
