"""The OpenAPI 3.1 description of every route and every error (served at ``/openapi.json``).

Written by hand next to the routes it describes; a test walks the Flask URL
map and fails if a route is missing here, and schemathesis checks every
response against these schemas.
"""
from __future__ import annotations

import copy
import functools
from typing import Any

AMOUNT = {"type": "string", "pattern": r"^-?(0|[1-9][0-9]*)\.[0-9]{2}$", "examples": ["100.00"]}
ACCOUNT_NO_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z\-]{0,31}$"
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
KWH = {"type": "string", "pattern": r"^(0|[1-9][0-9]*)\.[0-9]{2}$", "examples": ["180.50"],
       "description": "kWh as an exact decimal string, two decimals"}
READING = {"type": "string", "maxLength": 32, "examples": ["12345.67"],
           "description": "A register in kWh as a decimal string (at most two decimals, not negative); "
                          "never a JSON number."}
# New fields (issue 7) on accounts, redemptions and payments: only for prepaid accounts with a tariff,
# absent for every other account.
KWH_FIELDS: dict[str, object] = {
    "available_balance": {**AMOUNT, "description": "Prepaid accounts with a tariff only: prepaid balance minus "
                                                   "arrears minus this month's estimate (may be negative)."},
    "available_kwh": {**KWH, "description": "Prepaid accounts with a tariff only: kWh the available balance buys "
                                            "from the account's position in its tariff period, rounded down to "
                                            "0.01 (0.00 when it is not positive)."},
    "kwh_tariff": {"type": "string", "description": "The tariff version the kWh figures use."},
    "kwh_basis": {"type": "string", "enum": ["tier", "peak"],
                  "description": "`tier`: the account's tier position; `peak`: a time-of-use account priced "
                                 "all at the peak price (conservative)."},
}
CREDITED_KWH = {**KWH, "description": "Prepaid accounts with a tariff only: kWh the money credited to the balance "
                                      "buys from the account's position in its tariff period (rounded down)."}

# Every stable error code, with its status and meaning (also rendered on /docs).
ERROR_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "The request could not be understood."),
    "malformed_json": (400, "The body is not valid UTF-8 JSON (an escaped lone surrogate such as \\ud800 "
                            "counts as invalid), has duplicate keys, or is not an object."),
    "validation_error": (400, "A field is missing, has the wrong type or format, or is out of range, e.g. a "
                              "payment over 100000000.00 (the message names it)."),
    "invalid_amount": (400, 'An amount is not a positive decimal string with at most two decimals ("100.00").'),
    "invalid_serial": (400, "A serial is not 16 digits with a valid check digit."),
    "idempotency_key_required": (400, "The Idempotency-Key header is missing."),
    "invalid_idempotency_key": (400, "The Idempotency-Key is not 1..255 visible ASCII characters."),
    "unauthorized": (401, "No API key, or an invalid or revoked one."),
    "forbidden": (403, "The client's role (or channel / distributor) may not do this."),
    "csrf_failed": (403, "The web form's security token is missing or expired."),
    "not_found": (404, "No such route."),
    "unknown_account": (404, "No electricity account with that number."),
    "voucher_not_found": (404, "No voucher with that serial in the caller's stock."),
    "batch_not_found": (404, "No batch with that id."),
    "order_not_found": (404, "No cost-control order with that id."),
    "method_not_allowed": (405, "The route does not accept this method (see Allow). OPTIONS is never served: "
                                "no CORS."),
    "idempotency_in_flight": (409, "A request with the same Idempotency-Key is still being processed."),
    "payment_conflict": (409, "The channel's external_ref was already booked with another amount or account."),
    "balance_out_of_range": (409, "Booking this would take a balance beyond the books' 64-bit range; nothing was "
                                  "booked."),
    "activation_refused": (409, "Cards in the range are not all inactive, the batch is not issued, or (a distributor) "
                                "the range is not all consigned to you."),
    "order_not_pending": (409, "The order was already acknowledged with the other result (or cancelled)."),
    "concurrent_readings": (409, "Another request recorded the same meter and day at the same moment; retry "
                                 "with the same Idempotency-Key."),
    "payload_too_large": (413, "The body is larger than the configured limit."),
    "unsupported_media_type": (415, "The body is not JSON (API) or not a form (web page)."),
    "invalid_voucher": (422, "The code cannot be redeemed. Unknown, not activated, already used, expired and "
                             "void codes, and codes in another currency than the account's, all get this same "
                             "answer."),
    "invalid_code_format": (422, "The typed code is not 20 digits with a valid check digit (a typo); it costs "
                                 "no attempt."),
    "invalid_token": (422, "The scanned EV1: token does not verify."),
    "idempotency_key_reused": (422, "The Idempotency-Key was used before with another request."),
    "currency_mismatch": (422, "The payment currency differs from the account's."),
    "invalid_reading": (422, "A reading has a malformed field (negative or more than two decimals, a date that "
                             "is not YYYY-MM-DD or before 2000-01-01), is dated in the future or out of order, "
                             "lacks time-of-use registers, or its peak and valley do not add up (to the "
                             "consumption; for the first reading or a replacement, to the register)."),
    "unknown_meter": (422, "The meter is not the account's current meter (unknown, another account's, or "
                           "replaced)."),
    "decreasing_reading": (422, "The register is lower than the previous reading and the reading is not marked "
                                "as a meter replacement."),
    "reading_conflict": (422, "The meter already has another reading on that day."),
    "meter_in_use": (422, "A replacement names a meter registered to another account or already removed."),
    "account_not_metered": (422, "A reading for an account without a tariff assignment (or no such account)."),
    "too_many_attempts": (429, "Too many failed attempts for this client, IP address or account; see "
                               "Retry-After."),
    "internal_error": (500, "Never expected; logged."),
    "service_unavailable": (503, "The database (or Redis) is unreachable; see Retry-After."),
}

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "message": {"type": "string"}},
        }
    },
}


def _error(status: int, *codes: str) -> dict[str, Any]:
    listed = ", ".join(f"`{c}`" for c in codes) if codes else "see the error codes"
    headers: dict[str, Any] = {}
    if status in (429, 503) or "idempotency_in_flight" in codes:
        headers["Retry-After"] = {"description": "Seconds to wait before retrying.",
                                  "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
    response: dict[str, Any] = {
        "description": f"Error codes: {listed}.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _readings_error(status: int, *codes: str) -> dict[str, Any]:
    response = _error(status, *codes)
    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ReadingsError"}}}
    return response


def _html_error(status: int, *codes: str) -> dict[str, Any]:
    headers = {}
    if status == 429:
        headers["Retry-After"] = {"schema": {"type": "string", "pattern": "^[0-9]+$"}}
    response: dict[str, Any] = {"description": f"The page with a message ({', '.join(codes)}).",
                                "content": {"text/html": {"schema": {"type": "string"}}}}
    if headers:
        response["headers"] = headers
    return response


_AUTH_ERRORS = {
    "401": _error(401, "unauthorized"),
    "403": _error(403, "forbidden"),
}
_COMMON = {
    "404": _error(404, "not_found"),
    "405": _error(405, "method_not_allowed"),
    "500": _error(500, "internal_error"),
    "503": _error(503, "service_unavailable"),
}
_WRITE_ERRORS = {
    "413": _error(413, "payload_too_large"),
    "415": _error(415, "unsupported_media_type"),
}
_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": True,
    "description": "Unique per intended operation (e.g. a UUID). A retry with the same key and body returns "
                   "the stored response; the same key with another body gets 422; while the first request is "
                   "still running, 409. Keys are scoped per client.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}
_REPLAYED_HEADER = {"Idempotent-Replayed": {"description": "`true` when this is a stored response replayed.",
                                            "schema": {"type": "string", "enum": ["true"]}}}


def _json_body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _ok(status_text: str, ref: str, *, replayable: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": status_text,
                                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}
    if replayable:
        response["headers"] = copy.deepcopy(_REPLAYED_HEADER)
    return response


def _roles(*roles: str) -> dict[str, Any]:
    return {"x-roles": list(roles), "security": [{"bearer": []}]}


def _build() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": _ERROR_SCHEMA,
        "RedemptionRequest": {
            "type": "object", "required": ["code", "account_no"],
            "description": "Fields other than these are ignored (never applied).",
            "properties": {
                "code": {"type": "string", "minLength": 1, "maxLength": 1024,
                         "description": "The typed 20-digit code (spaces and dashes allowed) or the scanned "
                                        "`EV1:` token.", "examples": ["1234 5678 9012 3456 7890"]},
                "account_no": {"type": "string", "pattern": ACCOUNT_NO_PATTERN, "examples": ["3100012345"]},
            },
        },
        "Redemption": {
            "type": "object",
            "required": ["redemption_id", "serial", "amount", "currency", "account_no", "applied_to_arrears",
                         "credited_to_balance", "balance"],
            "properties": {
                "redemption_id": {"type": "string"}, "serial": {"type": "string"}, "amount": AMOUNT,
                "currency": {"type": "string"}, "account_no": {"type": "string"}, "applied_to_arrears": AMOUNT,
                "credited_to_balance": AMOUNT, "balance": AMOUNT, "redeemed_at": TIMESTAMP,
                "sts": {"$ref": "#/components/schemas/StsToken"},
                **KWH_FIELDS, "credited_kwh": CREDITED_KWH,
            },
        },
        "StsToken": {
            "type": "object",
            "description": "Only for accounts with an STS keypad meter: the money credited to the balance as "
                           "a 20-digit token for the meter (token null when all of it paid arrears). "
                           "A replay returns the same token.",
            "required": ["token", "tid", "meter", "kind"],
            "properties": {
                "token": {"type": ["string", "null"], "examples": ["5938 6323 4721 3742 6967"],
                          "description": "20 digits in five groups of four"},
                "tid": {"type": ["integer", "null"], "description": "token identifier (minutes since the "
                                                                     "meter's base date)"},
                "meter": {"type": "string", "description": "the meter PAN (18 digits)"},
                "kind": {"type": "string", "enum": ["credit"]},
                "kwh": {"type": "string", "description": "kWh the meter credits (0.1 kWh, rounded up)"},
                "tariff_kwh": {"type": "string", "description": "kWh the tariff gives for the money "
                                                                "(0.01 kWh, rounded down)"},
            },
        },
        "PaymentRequest": {
            "type": "object", "required": ["account_no", "amount", "external_ref"],
            "description": "Fields other than these are ignored. `channel`, if given, must be the client's own.",
            "properties": {
                "account_no": {"type": "string", "pattern": ACCOUNT_NO_PATTERN},
                "amount": {"type": "string", "pattern": r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$",
                           "examples": ["50.00"],
                           "description": "At most 100000000.00 per payment (more: 400 `validation_error`)."},
                "external_ref": {"type": "string", "minLength": 1, "maxLength": 64,
                                 "description": "The channel's own reference; a payment is booked once per "
                                                "(channel, external_ref). Printable ASCII without commas or "
                                                "surrounding spaces, not starting with = + - @ (a spreadsheet "
                                                "formula)."},
                "channel": {"type": "string"},
                "paid_at": {"type": "string", "format": "date-time",
                            "description": "When the customer paid (ISO 8601 with offset), from "
                                           "2000-01-01T00:00:00Z to 5 minutes ahead; default now."},
            },
        },
        "Payment": {
            "type": "object",
            "required": ["payment_id", "channel", "external_ref", "account_no", "amount", "currency",
                         "applied_to_arrears", "credited_to_balance", "balance", "paid_at", "created"],
            "properties": {
                "payment_id": {"type": "string"}, "channel": {"type": "string"},
                "external_ref": {"type": "string"}, "account_no": {"type": "string"}, "amount": AMOUNT,
                "currency": {"type": "string"}, "applied_to_arrears": AMOUNT, "credited_to_balance": AMOUNT,
                "balance": AMOUNT, "paid_at": TIMESTAMP,
                "created": {"type": "boolean", "description": "false: this external_ref was booked before"},
                "sts": {"$ref": "#/components/schemas/StsToken"},
                **KWH_FIELDS, "credited_kwh": CREDITED_KWH,
            },
        },
        "Account": {
            "type": "object", "required": ["account_no", "balance", "arrears", "currency"],
            "properties": {"account_no": {"type": "string"}, "balance": AMOUNT, "arrears": AMOUNT,
                           "currency": {"type": "string"}, **KWH_FIELDS},
        },
        "ReadingsRequest": {
            "type": "object", "required": ["readings"],
            "description": "A batch of meter readings, recorded all or nothing.",
            "properties": {"readings": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
                "type": "object", "required": ["account_no", "meter", "reading_date", "reading"],
                "properties": {
                    "account_no": {"type": "string", "pattern": ACCOUNT_NO_PATTERN, "examples": ["3100012345"]},
                    "meter": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,64}$", "examples": ["M3100012345"]},
                    "reading_date": {"type": "string", "format": "date", "examples": ["2026-11-25"],
                                     "description": "The local day of the reading (YYYY-MM-DD), from 2000-01-01, "
                                                    "not in the future."},
                    "reading": READING,
                    "peak": {**READING, "type": ["string", "null"],
                             "description": "Peak register (time-of-use meters; with valley)."},
                    "valley": {**READING, "type": ["string", "null"],
                               "description": "Valley register (time-of-use meters; with peak)."},
                    "replacement": {"type": ["boolean", "null"],
                                    "description": "true: a meter replacement (or register reset): the new "
                                                   "meter's first reading, consuming nothing."},
                }}}},
        },
        "ReadingsResult": {
            "type": "object", "required": ["received", "recorded", "duplicates"],
            "properties": {"received": {"type": "integer", "minimum": 1},
                           "recorded": {"type": "integer", "minimum": 0,
                                        "description": "new readings stored"},
                           "duplicates": {"type": "integer", "minimum": 0,
                                          "description": "readings already stored with the same values "
                                                         "(nothing changed)"}},
        },
        "ReadingsError": {
            "type": "object", "required": ["error"],
            "description": "`error.code` is the code of the first refused reading; `error.errors` lists the "
                           "refused readings (up to 100) by their index in the request. Nothing was recorded.",
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "message": {"type": "string"},
                    "errors": {"type": "array", "items": {
                        "type": "object", "required": ["index", "code", "message"],
                        "properties": {"index": {"type": "integer", "minimum": 0},
                                       "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                                       "message": {"type": "string"}}}},
                    "total_errors": {"type": "integer", "minimum": 1},
                }}},
        },
        "Order": {
            "type": "object",
            "required": ["order_id", "account_no", "meter_no", "kind", "status", "reason", "available_balance",
                         "not_before", "created_at", "acknowledged_at", "acknowledged_by", "result_detail"],
            "properties": {
                "order_id": {"type": "integer", "minimum": 1}, "account_no": {"type": "string"},
                "meter_no": {"type": "string"},
                "kind": {"type": "string", "enum": ["disconnect", "reconnect"]},
                "status": {"type": "string", "enum": ["pending", "done", "failed", "cancelled"]},
                "reason": {"type": "string"},
                "available_balance": {**AMOUNT, "description": "The available balance when the order was made."},
                "not_before": {**TIMESTAMP, "description": "Do not execute before this time."},
                "created_at": TIMESTAMP, "acknowledged_at": NULLABLE_TIMESTAMP,
                "acknowledged_by": {"type": ["string", "null"]}, "result_detail": {"type": ["string", "null"]},
            },
        },
        "OrderList": {
            "type": "object", "required": ["orders", "next_after_id"],
            "properties": {"orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                           "next_after_id": {"type": ["integer", "null"],
                                             "description": "Pass as `after_id` for the next page (null: no "
                                                            "more)."}},
        },
        "OrderAck": {
            "type": "object", "required": ["result"],
            "properties": {"result": {"type": "string", "enum": ["done", "failed"]},
                           "detail": {"type": "string", "maxLength": 2000,
                                      "description": "Free text from the head-end (e.g. why it failed)."}},
        },
        "Voucher": {
            "type": "object",
            "required": ["serial", "batch_id", "status", "redeemable", "face_value", "currency", "expires"],
            "description": "Never contains the code.",
            "properties": {
                "serial": {"type": "string"}, "batch_id": {"type": "string"},
                "status": {"type": "string", "enum": ["inactive", "active", "redeemed", "expired", "void"]},
                "redeemable": {"type": "boolean"}, "face_value": AMOUNT, "currency": {"type": "string"},
                "expires": {"type": "string", "format": "date"},
                "distributor_id": {"type": ["string", "null"], "description": "Who sold (activated) it."},
                "consigned_to": {"type": ["string", "null"],
                                 "description": "Whose stock it is: the distributor it was shipped to."},
                "activated_at": NULLABLE_TIMESTAMP, "redeemed_at": NULLABLE_TIMESTAMP,
            },
        },
        "ActivationRequest": {
            "type": "object", "required": ["batch_id"],
            "description": "A serial range of one batch (both ends, inclusive) or, without them, the whole batch. "
                           "`distributor_id` is required for admins; a distributor activates only for itself and only "
                           "stock consigned to it (`voucherctl batch consign`).",
            "properties": {
                "batch_id": {"type": "string", "pattern": "^B[0-9]{2}-[0-9]{6}$"},
                "from_serial": {"type": "string"}, "to_serial": {"type": "string"},
                "distributor_id": {"type": "string"},
            },
        },
        "Activation": {
            "type": "object",
            "required": ["batch_id", "distributor_id", "first_serial", "last_serial", "count", "face_value",
                         "currency", "face_total", "commission_total", "receivable"],
            "properties": {
                "batch_id": {"type": "string"}, "distributor_id": {"type": "string"},
                "first_serial": {"type": "string"}, "last_serial": {"type": "string"},
                "count": {"type": "integer", "minimum": 1}, "face_value": AMOUNT, "currency": {"type": "string"},
                "face_total": AMOUNT, "commission_total": AMOUNT, "receivable": AMOUNT,
            },
        },
        "PublicKeys": {
            "type": "object", "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {
                "type": "object", "required": ["key_id", "alg", "public_key", "status"],
                "properties": {"key_id": {"type": "string"}, "alg": {"type": "string", "enum": ["Ed25519"]},
                               "public_key": {"type": "string", "description": "raw 32 bytes, base64url"},
                               "status": {"type": "string", "enum": ["active", "retired", "revoked"]}}}}},
        },
        "Health": {"type": "object", "required": ["status"],
                   "properties": {"status": {"type": "string"}, "database": {"type": "string"}}},
    }
    paths: dict[str, Any] = {
        "/api/v1/redemptions": {"post": {
            "operationId": "redeemVoucher", "tags": ["redemption"],
            "summary": "Redeem a voucher onto an electricity account (terminal role)",
            "description": "Arrears are paid first (oldest bill first), the rest becomes prepaid balance. Exactly "
                           "once: concurrent attempts on one code give one 201. Well-formed codes that fail are "
                           "counted per client and per account; over the limit, 429.",
            **_roles("terminal"),
            "parameters": [_IDEMPOTENCY_HEADER],
            "requestBody": _json_body("RedemptionRequest"),
            "responses": {
                "201": _ok("Redeemed (or the replay of a stored answer).", "Redemption", replayable=True),
                "400": _error(400, "malformed_json", "validation_error", "idempotency_key_required",
                              "invalid_idempotency_key"),
                **_AUTH_ERRORS, **_COMMON,
                "404": _error(404, "unknown_account", "not_found"),
                "409": _error(409, "idempotency_in_flight", "balance_out_of_range"),
                **_WRITE_ERRORS,
                "422": _error(422, "invalid_voucher", "invalid_code_format", "invalid_token",
                              "idempotency_key_reused"),
                "429": _error(429, "too_many_attempts"),
            },
        }},
        "/api/v1/payments": {"post": {
            "operationId": "postPayment", "tags": ["payments"],
            "summary": "Post a channel payment onto an account (channel role, own channel only)",
            **_roles("channel"),
            "parameters": [_IDEMPOTENCY_HEADER],
            "requestBody": _json_body("PaymentRequest"),
            "responses": {
                "201": _ok("Booked.", "Payment", replayable=True),
                "200": _ok("This external_ref was already booked with the same content; nothing new booked.",
                           "Payment", replayable=True),
                "400": _error(400, "malformed_json", "validation_error", "invalid_amount",
                              "idempotency_key_required", "invalid_idempotency_key"),
                **_AUTH_ERRORS, **_COMMON,
                "403": _error(403, "forbidden"),
                "404": _error(404, "unknown_account", "not_found"),
                "409": _error(409, "idempotency_in_flight", "payment_conflict", "balance_out_of_range"),
                **_WRITE_ERRORS,
                "422": _error(422, "idempotency_key_reused", "currency_mismatch"),
            },
        }},
        "/api/v1/accounts/{account_no}": {"get": {
            "operationId": "getAccount", "tags": ["accounts"],
            "summary": "Balance and arrears of an electricity account (terminal, channel, finance, admin)",
            "description": "Prepaid accounts with a tariff also get `available_balance`, `available_kwh`, "
                           "`kwh_tariff` and `kwh_basis` (absent for every other account).",
            **_roles("terminal", "channel", "finance", "admin"),
            "parameters": [{"name": "account_no", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("The account.", "Account"), **_AUTH_ERRORS, **_COMMON,
                          "404": _error(404, "unknown_account", "not_found")},
        }},
        "/api/v1/vouchers/{serial}": {"get": {
            "operationId": "getVoucher", "tags": ["stock"],
            "summary": "Status of a voucher by serial (distributor: own stock only; admin: all). Never the code.",
            **_roles("distributor", "admin"),
            "parameters": [{"name": "serial", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("The voucher.", "Voucher"), "400": _error(400, "invalid_serial"),
                          **_AUTH_ERRORS, **_COMMON, "404": _error(404, "voucher_not_found", "not_found")},
        }},
        "/api/v1/activations": {"post": {
            "operationId": "activateRange", "tags": ["stock"],
            "summary": "Activate sold stock: a serial range of one batch (distributor: its own consigned stock; "
                       "admin)",
            **_roles("distributor", "admin"),
            "parameters": [_IDEMPOTENCY_HEADER],
            "requestBody": _json_body("ActivationRequest"),
            "responses": {
                "201": _ok("Activated (books: Dr distributor, Dr commission, Cr voucher liability).", "Activation",
                           replayable=True),
                "400": _error(400, "malformed_json", "validation_error", "invalid_serial",
                              "idempotency_key_required", "invalid_idempotency_key"),
                **_AUTH_ERRORS, **_COMMON,
                "404": _error(404, "batch_not_found", "not_found"),
                "409": _error(409, "activation_refused", "idempotency_in_flight", "balance_out_of_range"),
                **_WRITE_ERRORS,
                "422": _error(422, "idempotency_key_reused"),
            },
        }},
        "/api/v1/readings": {"post": {
            "operationId": "postReadings", "tags": ["head-end"],
            "summary": "Record a batch of meter readings from the metering head-end (headend, admin)",
            "description": "All or nothing. Idempotent per (meter, day): the same reading again is a duplicate "
                           "and changes nothing; another value for that meter and day is `reading_conflict`. A "
                           "register lower than the previous one is `decreasing_reading` unless the reading is "
                           "marked `replacement`. Registers are decimal strings, never numbers.",
            **_roles("headend", "admin"),
            "parameters": [_IDEMPOTENCY_HEADER],
            "requestBody": _json_body("ReadingsRequest"),
            "responses": {
                "201": _ok("Recorded (at least one new reading).", "ReadingsResult", replayable=True),
                "200": _ok("Nothing new: every reading was already recorded.", "ReadingsResult", replayable=True),
                "400": _readings_error(400, "malformed_json", "validation_error", "idempotency_key_required",
                                       "invalid_idempotency_key"),
                **_AUTH_ERRORS, **_COMMON,
                "409": _error(409, "idempotency_in_flight", "concurrent_readings"),
                **_WRITE_ERRORS,
                "422": _readings_error(422, "invalid_reading", "unknown_meter", "decreasing_reading",
                                       "reading_conflict", "meter_in_use", "account_not_metered",
                                       "idempotency_key_reused"),
            },
        }},
        "/api/v1/orders": {"get": {
            "operationId": "listOrders", "tags": ["head-end"],
            "summary": "Cost-control disconnect / reconnect orders, in the order to execute them (headend, admin)",
            **_roles("headend", "admin"),
            "parameters": [
                {"name": "status", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["pending", "done", "failed", "cancelled", "all"],
                            "default": "pending"}},
                {"name": "after_id", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1, "default": 0},
                 "description": "Only orders with a larger id (the previous page's `next_after_id`)."},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "account_no", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": ACCOUNT_NO_PATTERN}},
            ],
            "responses": {"200": _ok("Orders in id order.", "OrderList"),
                          "400": _error(400, "validation_error"), **_AUTH_ERRORS, **_COMMON},
        }},
        "/api/v1/orders/{order_id}/ack": {"post": {
            "operationId": "acknowledgeOrder", "tags": ["head-end"],
            "summary": "Report a cost-control order done or failed (headend, admin)",
            "description": "The same result again returns the order unchanged; the other result is refused "
                           "(409 `order_not_pending`).",
            **_roles("headend", "admin"),
            "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           _IDEMPOTENCY_HEADER],
            "requestBody": _json_body("OrderAck"),
            "responses": {
                "200": _ok("The acknowledged order.", "Order", replayable=True),
                "400": _error(400, "malformed_json", "validation_error", "idempotency_key_required",
                              "invalid_idempotency_key"),
                **_AUTH_ERRORS, **_COMMON,
                "404": _error(404, "order_not_found", "not_found"),
                "409": _error(409, "idempotency_in_flight", "order_not_pending"),
                **_WRITE_ERRORS,
                "422": _error(422, "idempotency_key_reused"),
            },
        }},
        "/api/v1/keys": {"get": {
            "operationId": "listKeys", "tags": ["keys"],
            "summary": "Public verification keys for EV1: tokens (any role)",
            **_roles("terminal", "distributor", "channel", "finance", "admin"),
            "responses": {"200": _ok("The `keys export-public` document.", "PublicKeys"), **_AUTH_ERRORS,
                          **_COMMON},
        }},
        "/redeem": {
            "get": {
                "operationId": "redeemPage", "tags": ["web"], "security": [],
                "summary": "The customer page (Chinese by default; `?lang=en`)",
                "parameters": [{"name": "lang", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": ["zh", "en"]}}],
                "responses": {"200": {"description": "The form.", "content": {"text/html": {"schema": {
                    "type": "string"}}}}, "405": _error(405, "method_not_allowed")},
            },
            "post": {
                "operationId": "redeemPageSubmit", "tags": ["web"], "security": [],
                "summary": "Submit the customer form (CSRF token from the page's session cookie required)",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["csrf_token", "submission", "account_no", "code"],
                    "properties": {"csrf_token": {"type": "string"},
                                   "submission": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                                   "account_no": {"type": "string"}, "code": {"type": "string"},
                                   "lang": {"type": "string", "enum": ["zh", "en"]}}}}}},
                "responses": {
                    "200": {"description": "Result page with the new balance.",
                            "content": {"text/html": {"schema": {"type": "string"}}}},
                    "400": _html_error(400, "validation_error"),
                    "403": _html_error(403, "csrf_failed"),
                    "404": _html_error(404, "unknown_account"),
                    "409": _html_error(409, "idempotency_in_flight", "balance_out_of_range"),
                    "413": _html_error(413, "payload_too_large"),
                    "415": _html_error(415, "unsupported_media_type"),
                    "422": _html_error(422, "invalid_voucher", "invalid_code_format"),
                    "429": _html_error(429, "too_many_attempts"),
                    "500": _html_error(500, "internal_error"),
                    "503": _html_error(503, "service_unavailable"),
                },
            },
        },
        "/healthz": {"get": {
            "operationId": "health", "tags": ["operations"], "security": [], "summary": "Liveness and database check",
            "responses": {"200": _ok("Healthy.", "Health"), "503": _error(503, "service_unavailable"),
                          "405": _error(405, "method_not_allowed")},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["operations"], "security": [],
            "summary": "Prometheus text: redemptions by outcome, requests, latency histogram",
            "responses": {"200": {"description": "Prometheus exposition format 0.0.4.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "405": _error(405, "method_not_allowed")},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["operations"], "security": [], "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          "405": _error(405, "method_not_allowed")},
        }},
        "/docs": {"get": {
            "operationId": "docs", "tags": ["operations"], "security": [],
            "summary": "Human-readable API documentation (served locally, no CDN)",
            "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}},
                          "405": _error(405, "method_not_allowed")},
        }},
    }
    _add_links(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Prepaid electricity voucher API (电费充值卡)",
            "version": "1.0.0",
            "description": "Redeem recharge vouchers, post channel payments, read balances, manage stock. "
                           "Amounts are decimal strings in the account's currency (`\"100.00\"`). Every error is "
                           "`{\"error\": {\"code\", \"message\"}}` with a stable code.",
            "x-error-codes": {code: {"status": status, "meaning": meaning}
                              for code, (status, meaning) in ERROR_CODES.items()},
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": n} for n in ("redemption", "payments", "accounts", "stock", "keys", "head-end", "web",
                                       "operations")],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "`voucherctl clients create` prints the key once."}},
        },
    }


def _link(operation_id: str, description: str, *, parameters: dict[str, str] | None = None,
          body: dict[str, str] | None = None) -> dict[str, Any]:
    link: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


# OpenAPI links: which answer feeds which next call (clients may follow them; schemathesis's state
# machine chains operations through them, so it reaches states one request alone cannot).
_LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("/api/v1/redemptions", "post", "201"): {
        "RedeemedAccount": _link("getAccount", "The account the voucher was redeemed onto.",
                                 parameters={"path.account_no": "$response.body#/account_no"}),
        "RedeemedVoucher": _link("getVoucher", "The redeemed voucher (now `redeemed`).",
                                 parameters={"path.serial": "$response.body#/serial"}),
    },
    ("/api/v1/payments", "post", "201"): {
        "PaidAccount": _link("getAccount", "The account the payment was booked onto.",
                             parameters={"path.account_no": "$response.body#/account_no"}),
    },
    ("/api/v1/payments", "post", "200"): {
        "PaidAccount": _link("getAccount", "The account the payment was booked onto.",
                             parameters={"path.account_no": "$response.body#/account_no"}),
    },
    ("/api/v1/vouchers/{serial}", "get", "200"): {
        "ActivateVoucher": _link("activateRange", "Activate this one card (a range of one serial).",
                                 body={"batch_id": "$response.body#/batch_id",
                                       "from_serial": "$response.body#/serial",
                                       "to_serial": "$response.body#/serial"}),
    },
    ("/api/v1/activations", "post", "201"): {
        "FirstActivated": _link("getVoucher", "The first card of the activated range.",
                                parameters={"path.serial": "$response.body#/first_serial"}),
        "LastActivated": _link("getVoucher", "The last card of the activated range.",
                               parameters={"path.serial": "$response.body#/last_serial"}),
    },
    ("/api/v1/orders", "get", "200"): {
        "AcknowledgeFirst": _link("acknowledgeOrder", "Report the first listed order done or failed.",
                                  parameters={"path.order_id": "$response.body#/orders/0/order_id"}),
    },
    ("/api/v1/orders/{order_id}/ack", "post", "200"): {
        "AccountOrders": _link("listOrders", "Every order of the acknowledged order's account.",
                               parameters={"query.account_no": "$response.body#/account_no",
                                           "query.status": "all"}),
    },
    ("/api/v1/readings", "post", "201"): {
        "AccountOrders": _link("listOrders", "Cost-control orders of the first reading's account.",
                               parameters={"query.account_no": "$request.body#/readings/0/account_no",
                                           "query.status": "all"}),
    },
}


def _add_links(paths: dict[str, Any]) -> None:
    for (path, method, status), links in _LINKS.items():
        paths[path][method]["responses"][status]["links"] = copy.deepcopy(links)


@functools.cache
def _cached() -> dict[str, Any]:
    return _build()


def spec() -> dict[str, Any]:
    """The document (a fresh copy: callers may not mutate the cached one)."""
    return copy.deepcopy(_cached())
