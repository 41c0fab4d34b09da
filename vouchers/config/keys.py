"""The one table of every setting: environment variable, TOML key, type, default, meaning.

docs/configuration.md is generated from this table (``python -m vouchers.config.doc``) and a test
checks it is up to date; another test checks every ``VOUCHER_*`` name in the code is a row here.
Each row is a typed field of :class:`vouchers.config.Settings` (directly, or of a part's settings:
``Settings.throttle``, ``.fraud``, ``.metering``, ``.staff``, ``.web``, ``.sms``), parsed against the
row's kind and range by :mod:`vouchers.config.values`; the fields keep their own defaults, which the
``default`` column documents.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "path", "integer", "number", "boolean", "amount", "timezone", "list"]


@dataclass(frozen=True)
class Key:
    env: str
    toml: str | None  # None: environment only (see ``why_env_only``)
    kind: Kind
    default: str
    doc: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False  # refused in the file: secrets come from the environment only
    why_env_only: str = ""


KEYS: tuple[Key, ...] = (
    # --- where things are ------------------------------------------------------------------------
    Key("VOUCHER_CONFIG", None, "path", "`$VOUCHER_HOME/voucher.toml` if it exists",
        "The configuration file; a path that does not exist is an error.",
        why_env_only="it says where the file is"),
    Key("VOUCHER_HOME", "home", "path", "`./var`",
        "Key store and local state. The default file location uses the environment's value only."),
    Key("VOUCHER_DATABASE_URL", "database.url", "string", "SQLite `vouchers.db` in the home",
        "SQLAlchemy URL: `sqlite:///...` or `postgresql+psycopg://...`."),
    Key("VOUCHER_DB_POOL_SIZE", "database.pool_size", "integer", "4",
        "Connections per web worker (`serve` raises it to the thread count).", 1, 100),
    Key("VOUCHER_REPORTS_DATABASE_URL", "database.reports_url", "string", "unset (reports read `VOUCHER_DATABASE_URL`)",
        "Where the report commands read (`report ...`, `collection report`, `accounts statement|search`, "
        "`payments list`, `fraud report`) and the console's finance reports and dashboard: a hot standby, in read-only transactions; every report states the "
        "standby's replay time as its data's as-of (docs/operations.md, \"Reports from a standby\")."),
    Key("VOUCHER_REPORTS_MAX_LAG_SECONDS", "database.reports_max_lag_seconds", "integer", "300",
        "A report refuses to run (unless `--allow-stale`) while the reports standby lags the primary by more "
        "than this; the console shows its pages anyway, with a warning banner stating the lag.", 0, 86400),
    Key("VOUCHER_REDIS_URL", "redis.url", "string", "unset (throttle counters in the database)",
        "Redis for the redemption throttle's counters."),
    Key("VOUCHER_REDIS_PREFIX", "redis.prefix", "string", "`vouchers:throttle:`",
        "Prefix of the throttle's Redis keys."),
    Key("VOUCHER_TARIFF_DIR", "tariffs.dir", "path", "the shipped tariff data",
        "Tariff data files to use instead of the shipped ones."),
    # --- secrets and modes -------------------------------------------------------------------------
    Key("VOUCHER_KEY_PASSPHRASE", "keys.passphrase", "string", "unset",
        "The issuer's secret: unseals the signing keys, the card-store key and the audit key (at least 12 "
        "characters for a new store). Never given to the web process.", secret=True,
        why_env_only="a secret: never written into a file that is copied, backed up and diffed"),
    Key("VOUCHER_WEB_PASSPHRASE", "keys.web_passphrase", "string", "unset",
        "The web secret: unseals only the code-hash pepper and the STS vending keys (at least 12 characters, "
        "different from the issuer's).", secret=True,
        why_env_only="a secret: never written into a file that is copied, backed up and diffed"),
    Key("VOUCHER_DEMO", "demo", "boolean", "false",
        "Throw-away demo: generates a passphrase kept next to the keys (no protection at rest)."),
    Key("VOUCHER_DEBUG", None, "boolean", "unset",
        "Unexpected errors show their traceback (CLI) or are logged with it (web).",
        why_env_only="read while reporting errors, including errors in the configuration file"),
    Key("VOUCHER_ACTOR", None, "string", "`$USER`, else `operator`",
        "Operator name recorded by billing and STS commands.",
        why_env_only="names the person at the keyboard, not the installation"),
    # --- issuing and money -------------------------------------------------------------------------
    Key("VOUCHER_ISSUER_CODE", "issuer.code", "integer", "1",
        "Issuer code printed in every serial.", 0, 99),
    Key("VOUCHER_MAX_BATCH_SIZE", "issuer.max_batch_size", "integer", "1000000",
        "Most vouchers one `batch create` may make.", 1),
    Key("VOUCHER_CURRENCY", "currency", "string", "`CNY`",
        "Default ISO 4217 currency of new batches, accounts and reports."),
    Key("VOUCHER_TIMEZONE", "timezone", "timezone", "`Asia/Shanghai`",
        "Business time zone: local dates of reports, bills and cut-offs."),
    # --- web API -----------------------------------------------------------------------------------
    Key("VOUCHER_THROTTLE_WINDOW_SECONDS", "throttle.window_seconds", "integer", "900",
        "Length of the failed-redemption counting window.", 1, 7 * 86400),
    Key("VOUCHER_THROTTLE_CLIENT_FAILURES", "throttle.client_failures", "integer", "20",
        "Failed redemptions per terminal client in one window, then 429.", 1),
    Key("VOUCHER_THROTTLE_ACCOUNT_FAILURES", "throttle.account_failures", "integer", "10",
        "Failed terminal redemptions per account in one window.", 1),
    Key("VOUCHER_THROTTLE_WEB_IP_FAILURES", "throttle.web_ip_failures", "integer", "300",
        "Failed web-page redemptions per IP address in one window, then the address is blocked (high: many "
        "customers share an address behind carrier-grade NAT; see the proof of work below).", 1),
    Key("VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES", "throttle.web_account_failures", "integer", "5",
        "Failed web-page redemptions per account in one window (the web's own counter: never locks a till).", 1),
    Key("VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER", "throttle.web_ip_challenge_after", "integer", "20",
        "Failed web-page redemptions per IP address in one window after which every attempt from it must "
        "carry a proof of work (the page's script computes it); one bit harder per as many failures again.", 1),
    Key("VOUCHER_THROTTLE_WEB_POW_BITS", "throttle.web_pow_bits", "integer", "16",
        "Leading zero bits of SHA-256 the first proof of work asks (about 2^bits hashes: 16 is well under a "
        "second in a browser); at most 8 more as failures grow.", 1, 32),
    Key("VOUCHER_THROTTLE_CLIENT_LOOKUPS", "throttle.client_lookups", "integer", "300",
        "Holder lookups (`GET /api/v1/accounts/<no>`) per client in one window, then 429.", 1),
    Key("VOUCHER_THROTTLE_WEB_IP_LOOKUPS", "throttle.web_ip_lookups", "integer", "300",
        "Holder confirmations (first step of `/redeem`) per IP address in one window, then 429. High "
        "because one address is often many customers (carrier-grade NAT, an office, a campus): it only "
        "caps bulk enumeration of holder names from one address; guessing codes is limited by the "
        "failure counters and the proof of work.", 1),
    Key("VOUCHER_THROTTLE_SMS_SENDER_FAILURES", "throttle.sms_sender_failures", "integer", "5",
        "Failed SMS top-ups per sending phone number in one window, then a refusal.", 1),
    Key("VOUCHER_MAX_BODY_BYTES", "web.max_body_bytes", "integer", "16384",
        "Largest request body accepted.", 256, 10 * 1024 * 1024),
    Key("VOUCHER_CANARY_SERIALS", "web.canary_serials", "list", "none",
        "Serials that must never be redeemed (an attempt is a fraud alert); comma-separated in the "
        "environment, an array in the file."),
    Key("VOUCHER_TRUSTED_PROXIES", "web.trusted_proxies", "integer", "0",
        "Reverse proxies in front whose X-Forwarded-For/-Proto are trusted.", 0, 5),
    Key("VOUCHER_METRICS_DIR", "web.metrics_dir", "path", "a temporary directory (`serve`)",
        "Where workers share their `/metrics` counters."),
    Key("VOUCHER_COOKIE_SECURE", "web.cookie_secure", "boolean", "true",
        "The web page's session cookie is sent over HTTPS only."),
    Key("VOUCHER_CONSOLE_IDLE_MINUTES", "console.idle_minutes", "integer", "15",
        "A staff session (console or `voucherctl login`) ends after this long without use.", 1, 1440),
    Key("VOUCHER_CONSOLE_ABSOLUTE_HOURS", "console.absolute_hours", "integer", "8",
        "A staff session ends this long after its login, used or not.", 1, 24),
    Key("VOUCHER_CONSOLE_LOGIN_USER_FAILURES", "console.login_user_failures", "integer", "5",
        "Failed staff logins per username in one throttle window, then refused until it ends.", 1, 1000),
    Key("VOUCHER_CONSOLE_LOGIN_IP_FAILURES", "console.login_ip_failures", "integer", "20",
        "Failed staff logins per IP address in one throttle window.", 1, 100000),
    Key("VOUCHER_REQUEST_READ_SECONDS", "web.request_read_seconds", "number", "10",
        "Seconds a client may take to send a request (`serve`).", 1, 300),
    Key("VOUCHER_LOG_FORMAT", "log_format", "string", "`text`",
        "Log lines of `serve`: `text`, or `json` (one JSON object a line, gunicorn's too, and one line per request "
        "with its `request_id`, route, status and duration).", choices=("text", "json")),
    Key("VOUCHER_API_KEY_CACHE_SECONDS", "web.api_key_cache_seconds", "integer", "0",
        "Seconds each worker may answer from a key it checked before, without asking the database: a revoked key "
        "keeps working at most this long. 0: every request checks its key.", 0, 300),
    Key("VOUCHER_IDEMPOTENCY_STALE_SECONDS", "idempotency.stale_seconds", "integer", "120",
        "After this an unfinished Idempotency-Key reservation may be taken over.", 10),
    Key("VOUCHER_IDEMPOTENCY_RETENTION_DAYS", "idempotency.retention_days", "integer", "7",
        "Days a finished Idempotency-Key record answers replays (`idempotency purge`).", 1),
    # --- SMS -----------------------------------------------------------------------------------------
    Key("VOUCHER_SMS_URL", "sms.url", "string", "unset",
        "SMS gateway (https://, http:// only to localhost); needs the token."),
    Key("VOUCHER_SMS_TOKEN", "sms.token", "string", "unset",
        "Bearer token of the SMS gateway.", secret=True,
        why_env_only="a secret: never written into a file that is copied, backed up and diffed"),
    Key("VOUCHER_SMS_SINK", "sms.sink", "path", "unset",
        "Append messages to this JSON-lines file instead of sending them (wins over the URL)."),
    Key("VOUCHER_SMS_TIMEOUT", "sms.timeout_seconds", "number", "10",
        "Seconds to wait for the SMS gateway.", 0),
    Key("VOUCHER_SMS_LANG", "sms.lang", "string", "`zh`",
        "Language of outgoing messages.", choices=("zh", "en")),
    # --- branding (cards, receipts, bills, report covers, the /redeem page) --------------------------
    Key("VOUCHER_BRAND_NAME_ZH", "branding.name_zh", "string", "`示例电力（未配置）`",
        "The utility's name in Chinese. Without any branding setting a neutral, clearly marked default is "
        "used and `voucherctl branding show` warns."),
    Key("VOUCHER_BRAND_NAME_EN", "branding.name_en", "string", "`Example Power (unset)`",
        "The utility's name in English."),
    Key("VOUCHER_BRAND_LOGO", "branding.logo", "path", "none",
        "Logo file, PNG or SVG (at most 256 KiB), shown on cards, receipts, reports and the web page."),
    Key("VOUCHER_BRAND_REDEEM_URL", "branding.redeem_url", "string", "`https://pay.utility.example/redeem`",
        "The customer redeem page, printed on cards (https://; http:// only to localhost)."),
    Key("VOUCHER_BRAND_QR_URL", "branding.qr_url", "string", "the redeem URL",
        "What a card's QR code opens, with the token after `#` (e.g. `https://pay.example.cn/r`; the web "
        "app serves `/r` as the redeem page)."),
    Key("VOUCHER_BRAND_HOTLINE", "branding.hotline", "string", "`00000`",
        "Customer service telephone number."),
    Key("VOUCHER_BRAND_SMS_NUMBER", "branding.sms_number", "string", "the hotline",
        "Number customers text to top up, printed on cards."),
    Key("VOUCHER_BRAND_TERMS_ZH", "branding.terms_zh", "string", "a neutral set of terms",
        "Terms of use (one line, at most 600 characters), Chinese: printed on every card's back "
        "(`{terms_zh}`; the shipped backs hold about 360 characters on a4-cards, 250 on a4-sheet) and shown "
        "on the `/redeem` page. The default says: electricity only, no cash refund, use before the expiry "
        "date, the code is void once used, check the account before confirming."),
    Key("VOUCHER_BRAND_TERMS_EN", "branding.terms_en", "string", "a neutral set of terms",
        "Terms of use, English (`{terms_en}` on the card's back, the `/redeem` page)."),
    Key("VOUCHER_BRAND_PRIMARY_COLOUR", "branding.primary_colour", "string", "`#1a4f9c`",
        "Main colour (`#rrggbb`): names, rules, headings; cards print it converted to CMYK."),
    Key("VOUCHER_BRAND_ACCENT_COLOUR", "branding.accent_colour", "string", "`#b0201e`",
        "Accent colour (`#rrggbb`): the face value."),
    # --- billing, cost control, collection warnings ------------------------------------------------
    Key("VOUCHER_BILL_DUE_DAYS", "billing.due_days", "integer", "7",
        "Days from bill date to due date (the late fee runs from the day after).", 0, 366),
    Key("VOUCHER_BILLING_BATCH", "billing.batch_size", "integer", "5000",
        "Accounts per billing transaction.", 1, 100_000),
    Key("VOUCHER_BILLING_WORKERS", "billing.workers", "integer", "2",
        "Billing threads (PostgreSQL only).", 1, 16),
    Key("VOUCHER_LOW_BALANCE_WARNING", "cost_control.low_balance_warning", "amount", "`30.00`",
        "Prepaid balance (yuan) under which the customer is warned."),
    Key("VOUCHER_DISCONNECT_NOTICE_DAYS", "cost_control.disconnect_notice_days", "integer", "1",
        "Days between the zero-balance notice and the cut-off.", 0, 60),
    Key("VOUCHER_DISCONNECT_HOUR", "cost_control.disconnect_hour", "integer", "8",
        "Local hour of the cut-off.", 0, 23),
    Key("VOUCHER_RED_DAYS_PAST_DUE", "collection.red_days_past_due", "integer", "30",
        "Red warning: days past due.", 0, 3660),
    Key("VOUCHER_RED_LARGE_CUSTOMER", "collection.red_large_customer", "amount", "`10000.00`",
        "Red warning: arrears (yuan) of a large customer."),
    Key("VOUCHER_YELLOW_LATE_PAYMENTS", "collection.yellow_late_payments", "integer", "2",
        "Yellow warning: late payments in 12 months.", 1, 365),
    Key("VOUCHER_BLUE_DAYS_TO_ZERO", "collection.blue_days_to_zero", "integer", "3",
        "Blue warning: days until the prepaid balance reaches zero.", 0, 365),
    # --- fraud rules (vouchers.services.fraud_rules; docs/fraud.md) ---------------------------------------
    Key("VOUCHER_FRAUD_ENABLED", "fraud.enabled", "boolean", "true",
        "Run the fraud rules inside every redemption and payment (the scan runs regardless)."),
    Key("VOUCHER_FRAUD_ACTIONS", "fraud.actions", "list", "each rule's own (see docs/fraud.md)",
        "Per-rule action overrides, `rule=alert` or `rule=hold`, comma-separated (e.g. `velocity.account_cards=alert`)."),
    Key("VOUCHER_FRAUD_ACCOUNT_CARDS", "fraud.account_cards", "integer", "5",
        "velocity.account_cards: more cards than this onto one account in a rolling day.", 1),
    Key("VOUCHER_FRAUD_ACCOUNT_AMOUNT", "fraud.account_amount", "amount", "`3000.00`",
        "velocity.account_amount: more money (yuan) than this onto one account in a rolling day."),
    Key("VOUCHER_FRAUD_TERMINAL_PER_HOUR", "fraud.terminal_per_hour", "integer", "60",
        "velocity.terminal_rate: more redemptions than this by one terminal in a rolling hour.", 1),
    Key("VOUCHER_FRAUD_OPEN_HOUR", "fraud.open_hour", "integer", "7",
        "velocity.terminal_hours: sites open at this local hour.", 0, 23),
    Key("VOUCHER_FRAUD_CLOSE_HOUR", "fraud.close_hour", "integer", "22",
        "velocity.terminal_hours: sites close at this local hour.", 1, 24),
    Key("VOUCHER_FRAUD_SITE_HOURS", "fraud.site_hours", "list", "none",
        "velocity.terminal_hours per site: `site=OPEN-CLOSE`, comma-separated; a site is a terminal's client id "
        "or a payment channel (e.g. `c_0123456789abcdef=8-20, counter_cash=8-18`). A terminal without its own "
        "hours keeps open_hour/close_hour; a channel without its own is not checked."),
    Key("VOUCHER_FRAUD_QUICK_MINUTES", "fraud.quick_minutes", "integer", "10",
        "insider.quick_redeem: a card redeemed this many minutes after activation is quick.", 1, 10080),
    Key("VOUCHER_FRAUD_QUICK_CARDS", "fraud.quick_cards", "integer", "3",
        "insider.quick_redeem: this many quick cards of one distributor onto one account in a day.", 1),
    Key("VOUCHER_FRAUD_BULK_CARDS", "fraud.bulk_cards", "integer", "50",
        "insider.bulk_same_day: an activation of at least this many cards...", 1),
    Key("VOUCHER_FRAUD_BULK_REDEEMED", "fraud.bulk_redeemed", "integer", "20",
        "...of which at least this many were redeemed on the activation's local day.", 1),
    Key("VOUCHER_FRAUD_VOID_DISTANCE", "fraud.void_distance", "integer", "50",
        "stolen.near_void: a card within this many serials of a void card of its batch or, counted through the "
        "boundary, of the batch before or after it.", 0, 1000000),
    Key("VOUCHER_FRAUD_REVIEW_THRESHOLD", "fraud.review_threshold", "amount", "`1000.00`",
        "channel.structuring: payments (yuan) at or above this are reviewed by hand."),
    Key("VOUCHER_FRAUD_STRUCTURING_BAND", "fraud.structuring_band", "amount", "`100.00`",
        "channel.structuring: a payment this close (yuan) under the review threshold is just under it."),
    Key("VOUCHER_FRAUD_STRUCTURING_COUNT", "fraud.structuring_count", "integer", "3",
        "channel.structuring: this many just-under payments onto one account in a rolling day.", 1),
    Key("VOUCHER_FRAUD_REVERSAL_MIN", "fraud.reversal_min", "integer", "5",
        "channel.reversal_rate: a channel-day needs at least this many reversals...", 1),
    Key("VOUCHER_FRAUD_REVERSAL_FACTOR", "fraud.reversal_factor", "integer", "3",
        "...and a reversal rate this many times its baseline (median daily rate of the 28 days before, days that "
        "fired left out)...", 1),
    Key("VOUCHER_FRAUD_REVERSAL_FLOOR_BP", "fraud.reversal_floor_bp", "integer", "200",
        "...and above this rate (basis points) whatever the baseline.", 0, 10000),
)

BY_ENV: dict[str, Key] = {k.env: k for k in KEYS}
BY_TOML: dict[str, Key] = {k.toml: k for k in KEYS if k.toml is not None}
# TOML tables that hold keys ("throttle", "sms", ...): anything else in the file is unknown
SECTIONS: frozenset[str] = frozenset(t.rsplit(".", 1)[0] for t in BY_TOML if "." in t)
