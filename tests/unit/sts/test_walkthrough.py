"""docs/sts.md §7 (CTSA01 step 1): every intermediate value, end to end."""
from __future__ import annotations

from vouchers.sts.amount import encode_units, kwh_to_units
from vouchers.sts.crc import sts_crc
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key, hmac_output
from vouchers.sts.encoder import credit_token
from vouchers.sts.misty1 import Misty1
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate, tid_at
from vouchers.sts.token_data import TidBody, TokenBlock
from vouchers.sts.transposition import to_digits, transpose_class

from .vectors import load, moment

WALK = load("ctsa01_step1_walkthrough.json")
IN = WALK["inputs"]
MID = WALK["intermediates"]


def _params() -> MeterKeyParams:
    return MeterKeyParams(MeterPan(IN["pan"]), IN["sgc"], IN["ti"], IN["krn"], IN["key_type"],
                          BaseDate.from_year(IN["base_date"]), IN["ken"])


def test_each_step() -> None:
    vk = bytes.fromhex(IN["vending_key"])
    p = _params()
    # 1. DKGA04
    assert p.dkga04_message().hex() == MID["dkga04_message"]
    mac = hmac_output(vk, p).hex()
    assert mac[:8] == MID["hmac_sha256_prefix"] and mac[-8:] == MID["hmac_sha256_suffix"]
    key = derive_decoder_key(vk, p)
    assert key.hex() == MID["decoder_key"]
    # 2. TID and amount
    tid = tid_at(moment(IN["issued"]), p.base_date)
    assert tid == MID["tid"]
    units = kwh_to_units(IN["amount_kwh"])
    assert units == MID["amount_units"]
    field = encode_units(units)
    assert f"{field:04x}" == MID["amount_field"]
    # 3. CRC over class|subclass|RND|TID|amount
    block = TokenBlock(IN["token_class"], IN["subclass"], TidBody(IN["rnd"], tid, field).pack())
    assert f"{sts_crc(block.crc_input):04x}" == MID["crc"]
    # 4. plaintext block, MISTY1, transposition, digits
    assert f"{block.plaintext():016x}" == MID["plaintext_block"]
    ciphertext = Misty1(key).encrypt_block(block.plaintext())
    assert f"{ciphertext:016x}" == MID["ciphertext_block"]
    value66 = transpose_class(ciphertext, IN["token_class"])
    assert f"{value66:x}" == MID["token_66bit"]
    assert to_digits(value66) == WALK["token"]


def test_encoder_reports_the_same_intermediates() -> None:
    key = bytes.fromhex(MID["decoder_key"])
    token = credit_token(key, subclass=IN["subclass"], rnd=IN["rnd"], tid=MID["tid"], units=MID["amount_units"])
    assert token.digits == WALK["token"]
    assert f"{token.crc:04x}" == MID["crc"]
    assert f"{token.plaintext:016x}" == MID["plaintext_block"]
    assert f"{token.ciphertext:016x}" == MID["ciphertext_block"]
    assert f"{token.value66:x}" == MID["token_66bit"]
    assert token.grouped == "5938 6323 4721 3742 6967"


def test_decoding_recovers_every_field() -> None:
    decoded = decode_token(WALK["token"], bytes.fromhex(MID["decoder_key"]))
    assert decoded.crc_ok
    assert decoded.kind == "electricity_credit"
    assert (decoded.token_class, decoded.subclass, decoded.rnd, decoded.tid) == (0, 0, 5, MID["tid"])
    assert decoded.units == 1
    assert f"{decoded.crc:04x}" == MID["crc"]
