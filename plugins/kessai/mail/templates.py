"""Mail templates: files under templates/mail/, the first line the subject, then a blank line,
then the body (Jinja2, UTF-8). A missing value is an error, never an empty gap in a mail."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).parents[1] / "templates" / "mail"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR, encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain-text mail
    )


def render_mail(name: str, **values) -> tuple[str, str]:
    """Render templates/mail/NAME.txt; returns (subject, body)."""
    text = _environment().get_template(f"{name}.txt").render(**values)
    subject, separator, body = text.partition("\n\n")
    if not separator:
        raise ValueError(f"mail template {name}.txt needs a subject line, a blank line, then the body")
    return subject.strip(), body
