"""What a card's QR holds (the redeem URL, the token in its fragment) back to the EV1 token."""
from __future__ import annotations

from vouchers.token import qr_fragment, token_from_scan

TOKEN = "EV1:AB %20C%$*+-./:Z"


def test_the_fragment_round_trips_whatever_the_token_holds():
    fragment = qr_fragment(TOKEN)
    assert " " not in fragment and fragment.count("%") == 3  # every '%' is an escape now
    for head in ("https://pay.acme.example/r", "HTTPS://PAY.ACME.EXAMPLE/r", "http://127.0.0.1:8080/redeem"):
        assert token_from_scan(f"{head}#{fragment}") == TOKEN


def test_bare_tokens_codes_and_other_urls_pass_unchanged():
    assert token_from_scan(TOKEN) == TOKEN  # cards printed before QR URLs
    assert token_from_scan("1234 5678 9012 3456 7890") == "1234 5678 9012 3456 7890"
    assert token_from_scan("https://evil.example/#notatoken") == "https://evil.example/#notatoken"
    assert token_from_scan("ftp://x#EV1:AB") == "ftp://x#EV1:AB"
