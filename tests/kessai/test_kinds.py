"""The result types' XCom form (kessai.kinds) and the enums against the CHECK constraints of the
columns that store their values."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from sqlalchemy import CheckConstraint

from kessai.calendar.rules import PayoutCycle
from kessai.db import schema
from kessai.kinds import ClosedDay, FolderImport
from kessai.payout.adjustments import AdjustmentKind
from kessai.payout.transfer_returns import ResultFile
from kessai.payout.zengin import TransferOutcome
from kessai.recurring.slips import SubscriptionStatus
from kessai.reminders.stale_slips import ReminderPeriod, ReminderReason
from kessai.slips.authorizations import AuthorizationState, VoidPurpose
from kessai.transmission.acknowledgements import AcknowledgementResult
from kessai.transmission.daily import HOLD_REASONS, HoldReason, TransmissionSummary

D = date.fromisoformat


def transmission_summary(**changes) -> TransmissionSummary:
    values = dict(
        business_date=D("2027-01-04"),
        claimed=True,
        batches=[],
        record_count=0,
        amount_total=0,
        late_count=0,
        held_count=1,
        held=[{"slip_id": "1", "reason": HoldReason.UNKNOWN_CARD_COMPANY}],
        sent_on_later_days=0,
        change_notices=0,
    )
    return TransmissionSummary(**{**values, **changes})


def test_as_dict_holds_plain_json_values_dates_as_iso_strings_and_enums_as_their_strings():
    values = transmission_summary().as_dict()
    assert values["business_date"] == "2027-01-04"
    (held,) = values["held"]
    assert held["reason"] == "unknown_card_company" and type(held["reason"]) is str
    assert json.loads(json.dumps(values)) == values


def test_an_optional_field_is_left_out_while_it_has_its_default():
    assert "dry_run" not in transmission_summary().as_dict() and "files" not in transmission_summary().as_dict()
    dry = transmission_summary(dry_run=True, files=[]).as_dict()
    assert (dry["dry_run"], dry["files"]) == (True, [])
    assert ClosedDay(D("2027-01-06"), "closed").as_dict() == {"business_date": "2027-01-06", "closed": "closed"}


def test_nested_results_become_dicts():
    file = ResultFile("kekka.txt", "ab", 2, [], [], [], [], dry_run=False, moved_to="done/kekka.txt")
    assert FolderImport("in", [file], False).as_dict() == {
        "folder": "in",
        "files": [
            {
                "file": "kekka.txt",
                "sha256": "ab",
                "records": 2,
                "returned": [],
                "already_recorded": [],
                "unmatched": [],
                "ahead_to_returned_accounts": [],
                "dry_run": False,
                "moved_to": "done/kekka.txt",
            }
        ],
        "dry_run": False,
    }


def checked_values(table, name: str) -> set[str]:
    """The quoted values of the table's CHECK constraint `name` (column IN ('a', 'b', ...))."""
    (constraint,) = [
        c for c in table.constraints if isinstance(c, CheckConstraint) and c.name == f"ck_{table.name}_{name}"
    ]
    return set(re.findall(r"'([^']*)'", str(constraint.sqltext)))


@pytest.mark.parametrize(
    ("enum", "table", "constraint"),
    [
        (HoldReason, schema.transmission_holds, "reason"),
        (ReminderReason, schema.slip_reminders, "reason"),
        (AuthorizationState, schema.slip_authorizations, "state"),
        (VoidPurpose, schema.authorization_voids, "purpose"),
        (AcknowledgementResult, schema.transmission_acknowledgements, "result"),
        (PayoutCycle, schema.merchants, "payout_cycle"),
        (ReminderPeriod, schema.merchants, "reminder_period"),
        (SubscriptionStatus, schema.subscriptions, "status"),
    ],
)
def test_each_enum_has_the_values_its_column_accepts(enum, table, constraint):
    assert {member.value for member in enum} == checked_values(table, constraint)


def test_the_other_stored_enums_match_the_schema():
    assert {kind.value for kind in AdjustmentKind} == set(schema.ADJUSTMENT_KINDS)
    returned = {outcome.value for outcome in TransferOutcome} - {TransferOutcome.DONE.value}
    assert returned == checked_values(schema.payout_transfer_returns, "result")
    assert set(HOLD_REASONS) == set(HoldReason)
