"""URLs with their passwords masked, as their readers parse them: a database URL as SQLAlchemy does
(its `***`), any other (smtp://, https://, fsspec URLs) as urllib does. Needs nothing of the
package: kessai.settings masks the values it refuses with it, and kessai.masking builds on it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
# The URLs whose reader is not SQLAlchemy.
_PLAIN_SCHEMES = re.compile(r"(smtps?|smtp\+starttls|https?|s3|gs|gcs|az|abfs|sftp|ftp|file|memory)$", re.IGNORECASE)
# scheme://user:password@ anywhere in a text; the password runs to the last @ before a blank.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)(?P<password>[^\s'\"]*)@")


def mask_url(url: str | None) -> str:
    """The URL with its password (if any) shown as ***; everything else as it was."""
    if not url:
        return url or ""
    scheme = url.partition("://")[0]
    if "://" in url and not _PLAIN_SCHEMES.match(scheme):
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            parsed = None
        if parsed is not None:
            return parsed.render_as_string(hide_password=True) if parsed.password else url
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:  # an unreadable port, a bad IPv6 host: mask whatever looks like userinfo
        return _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", url)
    if not has_password:
        return url
    user, _, _ = parts.netloc.rpartition("@")[0].partition(":")
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()


def url_password(url: str | None) -> str | None:
    """The password a URL carries, as its reader decodes it (to find it again in a text)."""
    if not url or "://" not in url:
        return None
    scheme = url.partition("://")[0]
    if not _PLAIN_SCHEMES.match(scheme):
        try:
            return make_url(url).password
        except (ArgumentError, ValueError):
            pass
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None
