"""The SMTP server's URL (KESSAI_SMTP_URL), read into the fields of kessai.mail.smtp_client's
SmtpSettings. Needs nothing of the package but URL masking: kessai.settings checks the URL with it
when it is read."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from kessai.url_masking import mask_url

DEFAULT_SENDER = "kessai@localhost"

# URL scheme -> (implicit TLS, STARTTLS, default port)
_SCHEMES = {"smtp": (False, False, 25), "smtp+starttls": (False, True, 587), "smtps": (True, False, 465)}
_URL_OPTIONS = {"from", "reply_to", "message_id_domain", "timeout", "verify_certificate"}


def parse_smtp_url(url: str) -> dict[str, Any]:
    """smtp://[user:password@]host[:port][?from=...&reply_to=...&message_id_domain=...&timeout=...]

    smtp:// is plain SMTP, smtp+starttls:// upgrades with STARTTLS, smtps:// is TLS from the
    start; verify_certificate=false accepts a self-signed server certificate.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"SMTP URL {mask_url(url)!r}: the scheme must be one of {', '.join(_SCHEMES)}")
    use_ssl, starttls, default_port = _SCHEMES[parts.scheme]
    # Percent-decoding only: a "+" stays a plus, as in noreply+kessai@example.jp.
    pairs = (item.partition("=") for item in parts.query.split("&") if item)
    options = {unquote(key): unquote(value) for key, _, value in pairs}
    unknown = set(options) - _URL_OPTIONS
    if unknown:
        raise ValueError(f"SMTP URL: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        port = parts.port or default_port
        timeout = float(options.get("timeout", 30))
    except ValueError as error:
        raise ValueError(f"SMTP URL {mask_url(url)!r}: {error}") from None
    return dict(
        host=parts.hostname or "localhost",
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_ssl=use_ssl,
        starttls=starttls,
        timeout=timeout,
        sender=options.get("from") or DEFAULT_SENDER,
        reply_to=options.get("reply_to") or None,
        message_id_domain=options.get("message_id_domain") or None,
        verify_certificate=options.get("verify_certificate", "true").lower() not in ("false", "0", "no"),
    )
