"""No secret in output: URLs and messages with their passwords masked, for everything printed or logged.

A URL is masked as its reader parses it: a database URL as SQLAlchemy does (its `***`), any other
(smtp://, https://, fsspec URLs) as urllib does. Free text (an error's message) gets every
`scheme://user:password@` in it masked, and any known secret value replaced.
"""

from __future__ import annotations

from collections.abc import Iterable

from kessai.settings import secret_setting_values, url_setting_values
from kessai.url_masking import _USERINFO, MASK, mask_url, url_password  # noqa: F401 (kessai.masking's names)


def environment_secrets() -> list[str]:
    """The secret settings of the environment, and the passwords of its URL settings as written
    and as decoded."""
    found = secret_setting_values()
    for url in url_setting_values():
        password = url_password(url)
        if password:
            found.append(password)
            raw = _USERINFO.search(url or "")
            if raw:
                found.append(raw["password"])
    return found


def mask_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """A message with every URL's password and every given secret value (3 characters or more)
    replaced by ***; the secrets of the environment's URL settings are always among them."""
    masked = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", str(text))
    for secret in sorted({s for s in [*secrets, *environment_secrets()] if s and len(s) >= 3}, key=len, reverse=True):
        masked = masked.replace(secret, MASK)
    return masked
