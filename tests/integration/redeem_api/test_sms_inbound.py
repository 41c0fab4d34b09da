"""SMS top-up (短信缴费): POST /api/v1/sms/inbound, signed by the gateway, replies in the outbox."""
from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy import select

from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth
from vouchers.codes import generate_code, group_code
from vouchers.notify.render import render
from vouchers.services.sms_topup import signature
from vouchers.storage.api_models import OutboxMessage, Redemption

URL = "/api/v1/sms/inbound"
PHONE = "13800138000"
_FULL_WIDTH = str.maketrans({**{chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}, " ": "\u3000"})


def signed(api_key: str, document: dict, at: dt.datetime, *, timestamp: str | None = None) -> tuple[bytes, dict]:
    """The body and the two signature headers a gateway sends."""
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    stamp = timestamp or str(int(at.timestamp()))
    return body, {"X-Timestamp": stamp, "X-Signature": signature(api_key, stamp, body),
                  "Content-Type": "application/json"}


def send(client, world, text: str, *, message_id: str, sender: str = PHONE, at: dt.datetime | None = None):
    key = world.keys["sms_gateway"]
    body, headers = signed(key, {"message_id": message_id, "from": sender, "text": text}, at or world.now)
    return client.post(URL, data=body, headers={**auth(key), **headers})


def replies(world, sender: str = PHONE) -> list[str]:
    with world.sessions.begin() as s:
        rows = s.execute(select(OutboxMessage.kind, OutboxMessage.payload)
                         .where(OutboxMessage.recipient == sender).order_by(OutboxMessage.id)).all()
    return [render(kind, payload) for kind, payload in rows]


def test_a_full_width_message_redeems_and_the_reply_goes_to_the_sender(client, world, caplog):
    caplog.set_level(logging.DEBUG)
    code = world.cards[0].code
    text = f"cz  {ACCOUNT_ARREARS}  {group_code(code)}".translate(_FULL_WIDTH)  # ｃｚ　３１…
    response = send(client, world, text, message_id="m-1")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"message_id": "m-1", "outcome": "redeemed"}
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)
    with world.sessions.begin() as s:
        assert s.execute(select(Redemption.channel)).scalar_one() == "sms"
        payloads = s.execute(select(OutboxMessage.payload)).scalars().all()
    (reply,) = replies(world)
    assert "张*" in reply and "100.00元" in reply and "70.00元" in reply, reply
    for where in (*payloads, *replies(world), caplog.text):  # the code is in no outbox row, text or log
        assert code not in where and group_code(code) not in where


def test_every_refusal_gets_the_same_reply_and_malformed_text_gets_help(client, world):
    cases = [(f"CZ {ACCOUNT_CLEAN} {world.cards[-1].code}", "refused"),  # not activated
             (f"CZ {ACCOUNT_CLEAN} {generate_code()}", "refused"),  # unknown code
             (f"CZ 9999999999 {world.cards[1].code}", "refused"),  # unknown account
             ("CZ 3100000002 1234", "help"), ("余额查询", "help")]
    for i, (text, outcome) in enumerate(cases):
        response = send(client, world, text, message_id=f"r-{i}")
        assert response.get_json()["outcome"] == outcome, text
    texts = replies(world)
    assert len(set(texts[:3])) == 1 and "充值未成功" in texts[0]
    assert "CZ 户号 20位卡密" in texts[3] and texts[3] == texts[4]
    assert world.count(Redemption) == 0


def test_the_sending_number_is_throttled_like_a_client(world, now):
    app = world.app(VOUCHER_THROTTLE_SMS_SENDER_FAILURES="2")
    client = app.test_client()
    for i in range(2):
        assert send(client, world, f"CZ {ACCOUNT_CLEAN} {generate_code()}", message_id=f"t-{i}"
                    ).get_json()["outcome"] == "refused"
    good = f"CZ {ACCOUNT_CLEAN} {world.cards[0].code}"
    assert send(client, world, good, message_id="t-2").get_json()["outcome"] == "refused"  # locked out
    assert world.count(Redemption) == 0
    assert send(client, world, good, message_id="t-3", sender="13900000000").get_json()["outcome"] == "redeemed"


def test_signatures_missing_wrong_stale_or_replayed_and_other_roles_are_refused(client, world):
    key = world.keys["sms_gateway"]
    document = {"message_id": "s-1", "from": PHONE, "text": f"CZ {ACCOUNT_CLEAN} {world.cards[0].code}"}
    for tamper, expected in (("missing", "signature_missing"), ("wrong", "signature_invalid"),
                             ("other key", "signature_invalid"), ("stale", "timestamp_out_of_range"),
                             ("future", "timestamp_out_of_range")):
        at = {"stale": world.now - dt.timedelta(seconds=301),
              "future": world.now + dt.timedelta(seconds=301)}.get(tamper, world.now)
        body, headers = signed(world.keys["terminal"] if tamper == "other key" else key, document, at)
        if tamper == "missing":
            del headers["X-Signature"]
        if tamper == "wrong":
            body = body.replace(b"s-1", b"s-2")  # the body changed after signing
        response = client.post(URL, data=body, headers={**auth(key), **headers})
        assert response.status_code == 401 and response.get_json()["error"]["code"] == expected, tamper
    assert world.count(Redemption) == 0 and world.count(OutboxMessage) == 0
    # replays: the same request again, then the same message id freshly signed a second later
    body, headers = signed(key, document, world.now)
    assert client.post(URL, data=body, headers={**auth(key), **headers}).status_code == 200
    replay = client.post(URL, data=body, headers={**auth(key), **headers})
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "sms_replayed"
    again = send(client, world, document["text"], message_id="s-1", at=world.now + dt.timedelta(seconds=1))
    assert again.status_code == 409
    assert world.count(Redemption) == 1 and len(replies(world)) == 1
    # another role's key, however well signed
    body, headers = signed(world.keys["terminal"], {**document, "message_id": "s-3"}, world.now)
    assert client.post(URL, data=body, headers={**auth(world.keys["terminal"]), **headers}).status_code == 403


def test_every_reply_names_the_configured_hotline_not_a_made_up_one(world):
    client = world.app(VOUCHER_BRAND_HOTLINE="0592-7654321").test_client()
    for i, text in enumerate((f"CZ {ACCOUNT_CLEAN} {generate_code()}", "余额查询",
                              f"CZ {ACCOUNT_CLEAN} {world.cards[0].code}")):
        send(client, world, text, message_id=f"h-{i}")
    with world.sessions.begin() as s:
        rows = s.execute(select(OutboxMessage.kind, OutboxMessage.payload)
                         .where(OutboxMessage.recipient == PHONE).order_by(OutboxMessage.id)).all()
    assert len(rows) == 3
    texts = [render(kind, payload, lang=lang) for kind, payload in rows for lang in ("zh", "en")]
    for text in texts[:4]:  # the refusal and the help, zh and en
        assert "0592-7654321" in text and "95598" not in text and "00000" not in text, text
    assert all("95598" not in text for text in texts)


def test_a_top_up_held_for_fraud_review_gets_an_under_review_reply(world, clock):
    client = world.app(clock, VOUCHER_FRAUD_ACCOUNT_AMOUNT="50.00", VOUCHER_FRAUD_ACTIONS="velocity.account_amount=hold",
                       VOUCHER_BRAND_HOTLINE="0592-7654321").test_client()
    response = send(client, world, f"CZ {ACCOUNT_CLEAN} {world.cards[0].code}", message_id="held-1")
    assert response.status_code == 200 and response.get_json()["outcome"] == "held"
    assert world.balance(ACCOUNT_CLEAN) == (0, 0)  # nothing credited while held
    with world.sessions.begin() as s:
        (kind, payload), = s.execute(select(OutboxMessage.kind, OutboxMessage.payload)
                                     .where(OutboxMessage.recipient == PHONE)).all()
    zh, en = render(kind, payload, lang="zh"), render(kind, payload, lang="en")
    assert "审核中" in zh and ACCOUNT_CLEAN in zh and "0592-7654321" in zh and "充值未成功" not in zh, zh
    assert "under review" in en and "0592-7654321" in en, en
    code = world.cards[0].code
    assert code not in payload and group_code(code) not in payload
