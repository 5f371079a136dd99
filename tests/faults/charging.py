"""The recurring charge's side of the suite: the job's arguments, what it charged, and the
comparison of a disturbed charge with the undisturbed one."""

from __future__ import annotations

from servers import copies_by_message_id, received
from support.gateway_server import API_KEY
from world import JOBS, charges, diff


def charge_args(gateway, url: str | None = None, timeout: float = 0.5) -> dict:
    """The recurring charge job's arguments: its charge day and the test gateway to charge through."""
    return {**JOBS["recurring_charge"], "gateway": {"url": url or gateway.url, "api_key": API_KEY, "timeout": timeout}}


def final_outcomes(url: str) -> dict:
    """(merchant, slip number) -> the outcome of the slip's last charge attempt."""
    return {slip: outcomes[-1] for slip, outcomes in charges(url).items()}


def _without_charge_counts(csv_text):
    """A merchant's failure list without its last column, 決済回数 (charge attempts): a charge
    the gateway never executed (down, 500) counts as an attempt, so after an outage the list says
    2 where the undisturbed run says 1. Everything else in it must be the same."""
    if isinstance(csv_text, bytes):
        return _without_charge_counts(csv_text.decode("utf-8-sig")).encode()
    return "\r\n".join(line.rsplit(",", 1)[0] for line in csv_text.split("\r\n"))


def _comparable(outputs: dict) -> dict:
    tables = dict(outputs["tables"])
    tables["mail_outbox"] = sorted(
        (
            tuple((k, _without_charge_counts(v) if k == "attachment_content" and v else v) for k, v in row)
            for row in tables["mail_outbox"]
        ),
        key=repr,
    )
    return {**outputs, "tables": tables}


def _comparable_mails(mails: list[tuple]) -> list[tuple]:
    return sorted(
        (to, subject, text, tuple((name, _without_charge_counts(data)) for name, data in attachments))
        for to, subject, text, attachments in mails
    )


def assert_like_undisturbed(place, gateway, expected) -> None:
    assert diff(_comparable(expected), _comparable(place.outputs())) == []
    assert _comparable_mails(received(place.smtp)) == _comparable_mails(expected["mails"])
    assert set(copies_by_message_id(place.smtp).values()) <= {1}
    assert final_outcomes(place.url) == expected["outcomes"]
    assert dict(gateway.executed) == expected["executed"]  # each key executed once, the same keys
