"""The link in a customer's re-payment request: the merchant's template
(`https://shop.example/repay?slip={slip_id}&token={token}`) filled with the slip number and a
signed, expiring token the online side verifies (docs/recurring-charge.md, "The re-payment link").

    token     = YYYYMMDD "." base64url(HMAC-SHA256(secret, "{merchant_id}:{slip_id}:{YYYYMMDD}"))
    YYYYMMDD  = the last day (in Japan) the link is valid; base64url without '=' padding

The secret (KESSAI_REPAYMENT_LINK_SECRET) is read at the boundary and passed down; it is never
logged or written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import quote

from kessai.errors import Refusal
from kessai.settings import REPAYMENT_LINK_SECRET_VARIABLE as SECRET_VARIABLE
from kessai.settings import environment_setting

SECRET_MIN_LENGTH = 32  # characters: a secret shorter than an HMAC-SHA256 key's worth is refused
VALID_DAYS = 30  # a link is valid through the 30th day after the request is written
REQUIRED_FIELDS = {"slip_id", "token"}
ALLOWED_FIELDS = REQUIRED_FIELDS | {"merchant_id"}


class LinkSecretMissing(Refusal):
    """A merchant has a link template but the deployment has no (or too short a) signing secret."""


class BadLinkTemplate(ValueError):
    """A merchant's link template cannot make a link (not https, a field missing or unknown)."""


@dataclass(frozen=True)
class RepaymentLink:
    url: str
    expires_on: date


def link_secret(environ) -> bytes | None:
    """The signing secret an environment gives, or None when it is not set."""
    return secret_bytes(environment_setting("repayment_link_secret", environ))


def secret_bytes(value: str | None) -> bytes | None:
    """The signing secret (Settings.repayment_link_secret) as the signatures take it."""
    return value.encode("utf-8") if value else None


def sign(secret: bytes, merchant_id: str, slip_id: str, expires_on: date) -> str:
    """The token of one slip's link: the expiry date, a dot, the signature."""
    stamp = f"{expires_on:%Y%m%d}"
    digest = hmac.new(secret, f"{merchant_id}:{slip_id}:{stamp}".encode(), hashlib.sha256).digest()
    return f"{stamp}." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(secret: bytes, merchant_id: str, slip_id: str, token: str, today: date) -> bool:
    """What the online side does with a link's token (here for the tests and the docs): the
    signature must match and today (in Japan) must not be past the expiry date."""
    stamp, _, _ = token.partition(".")
    try:
        expires_on = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))
    except ValueError:
        return False
    if len(stamp) != 8 or today > expires_on:
        return False
    return hmac.compare_digest(sign(secret, merchant_id, slip_id, expires_on), token)


def check_template(template: str) -> None:
    """A usable template: https, with {slip_id} and {token}, and no other field."""
    if not template.lower().startswith("https://"):
        raise BadLinkTemplate("the re-payment link template must start with https://")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise BadLinkTemplate(f"the re-payment link template is malformed ({error})") from None
    if missing := REQUIRED_FIELDS - fields:
        raise BadLinkTemplate(f"the re-payment link template lacks {', '.join(sorted(missing))}")
    if unknown := fields - ALLOWED_FIELDS:
        raise BadLinkTemplate(f"the re-payment link template has unknown field(s) {', '.join(sorted(unknown))}")


def repayment_link(
    template: str, secret: bytes | None, merchant_id: str, slip_id: str, written_on: date
) -> RepaymentLink:
    """The link for one failed slip, valid through written_on + VALID_DAYS. Refuses without a
    secret (LinkSecretMissing); BadLinkTemplate for a template that cannot make a link."""
    if secret is None or len(secret) < SECRET_MIN_LENGTH:
        raise LinkSecretMissing(
            f"merchant {merchant_id} has a re-payment link template but {SECRET_VARIABLE} is "
            f"{'not set' if secret is None else 'shorter than ' + str(SECRET_MIN_LENGTH) + ' characters'}: "
            f"set it on the workers and run notify_failures again (nothing was sent)"
        )
    check_template(template)
    expires_on = written_on + timedelta(days=VALID_DAYS)
    token = sign(secret, merchant_id, slip_id, expires_on)
    url = template.format(
        slip_id=quote(slip_id, safe=""), token=quote(token, safe=""), merchant_id=quote(merchant_id, safe="")
    )
    return RepaymentLink(url, expires_on)
