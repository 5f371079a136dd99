"""Card authorizations (与信) of slips: hold, void, partial void, release at expiry.

A slip's authorizations are slip_authorizations rows: the first for its amount when it is
authorized, one more for each increase of its amount (the difference only: the customer's line is
never held twice for the same yen). Before confirmation:

- cancel voids all an authorization still holds; a decrease voids the difference, newest
  authorization first (a partial void);
- an increase authorizes the difference first; declined or unanswered, the amount stays.

Each void is an authorization_voids row with its own idempotency key, written in the transaction
that cancels, changes or expires the slip, and asked of the gateway after that transaction commits
(never inside it). A void whose answer did not come stays pending: the daily stale-slip run asks
again with the same key, so nothing is voided twice. A void the card side refuses leaves the slip
cancelled or changed on our side; the refusal is recorded, told to the operator with the FAQ's
sentence, and to the merchant (and the operators) by the next daily run's mail.

A slip without an authorization row has no authorization on record (older data, bulk loads):
cancel and change proceed with a note, expiry has nothing to void. docs/card-gateway.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from itertools import groupby

from sqlalchemy import Connection, Date, Engine, bindparam, func, insert, select, update

from kessai.calendar.run_dates import japan_date_of
from kessai.db.database import sql_text
from kessai.db.schema import authorization_voids, mail_outbox, merchants, slip_authorizations, slips
from kessai.errors import TransientFault
from kessai.gateway.card_gateway import APPROVED, DECLINED, KIND_FAULT, REFUSED, VOIDED, CardGateway
from kessai.gateway.circuit_breaker import NOT_SENT, CircuitBreaker
from kessai.kinds import Result
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.slips.amounts import DEFAULT_MAX_SLIP_AMOUNT, in_range, out_of_range
from kessai.slips.confirmation_batch import AMOUNT_OUT_OF_RANGE, CONCURRENT_CHANGE
from kessai.slips.operations import (
    INVALID_AMOUNT,
    SlipOperationError,
    cancel_slip,
    change_amount,
    changeable_slip,
)

log = logging.getLogger(__name__)

# The FAQ's sentence for a void the card side refused.
VOID_REFUSED_SENTENCE = "カード会社側の事由により与信の取消ができませんでした"


class AuthorizationState(StrEnum):
    """Where an authorization stands, as slip_authorizations.state stores it (schema.AUTHORIZATION_STATES)."""

    PENDING = "pending"  # asked of the gateway, its answer not recorded yet
    HELD = "held"
    DECLINED = "declined"
    CAPTURED = "captured"  # its slip went to the card company
    VOIDED = "voided"
    EXPIRED = "expired"  # voided because its slip expired
    VOID_REFUSED = "void_refused"  # the card side refused to release it


class VoidPurpose(StrEnum):
    """Why a void was asked, as authorization_voids.purpose stores it (schema.VOID_PURPOSES)."""

    CANCEL = "cancel"
    DECREASE = "decrease"
    EXPIRY = "expiry"
    UNUSED = "unused"  # an increase's authorization whose answer came too late: the amount never changed


HELD = AuthorizationState.HELD
PENDING = AuthorizationState.PENDING  # also a void's outcome until the gateway answers
CANCEL = VoidPurpose.CANCEL
DECREASE = VoidPurpose.DECREASE
EXPIRY = VoidPurpose.EXPIRY
UNUSED = VoidPurpose.UNUSED

AUTHORIZATION_DECLINED = "authorization_declined"
AUTHORIZATION_UNANSWERED = "authorization_unanswered"
AUTHORIZATION_UNSETTLED = "authorization_unsettled"
NO_CARD_TOKEN = "no_card_token"

MERCHANT_MAIL_KIND = "authorization_void_refused"
OPERATOR_MAIL_KIND = "authorization_void_refused_operators"


@dataclass(frozen=True)
class VoidOutcome:
    void_id: int
    merchant_id: str
    slip_id: str
    amount: int
    kind: str  # voided, refused or fault
    reason: str | None = None


@dataclass
class OperationResult:
    """What a cancel or a change did at the card company, as lines for the operator."""

    lines: list[str] = field(default_factory=list)
    voids: list[VoidOutcome] = field(default_factory=list)

    @property
    def refused(self) -> list[VoidOutcome]:
        return [void for void in self.voids if void.kind == REFUSED]


def _key_of_authorization(slip_row_id: int, sequence: int) -> str:
    return f"auth-{slip_row_id}-{sequence}"


def _name(merchant_id: str, slip_id: str) -> str:
    return f"slip {slip_id} of merchant {merchant_id}"


# -- authorizing ----------------------------------------------------------------------------------


def record_authorization(
    connection: Connection,
    slip_row_id: int,
    amount: int,
    *,
    card_token: str | None,
    approval_number: str | None,
    transaction_id: str,
    authorized_at: datetime,
) -> int:
    """Record an authorization made elsewhere (the online side at the sale) as the slip's next one."""
    sequence = _next_sequence(connection, slip_row_id)
    return connection.execute(
        insert(slip_authorizations)
        .values(
            slip_row_id=slip_row_id,
            sequence=sequence,
            amount=amount,
            card_token=card_token,
            approval_number=approval_number,
            transaction_id=transaction_id,
            authorized_at=authorized_at,
            state=HELD,
            idempotency_key=_key_of_authorization(slip_row_id, sequence),
        )
        .returning(slip_authorizations.c.authorization_id)
    ).scalar_one()


def authorize_slip(
    engine: Engine, gateway: CardGateway, merchant_id: str, slip_id: str, card_token: str, at: datetime
) -> str:
    """Authorize an open slip's amount on the card (its first authorization); returns the approval
    number. Raises SlipOperationError when declined or unanswered (run it again: same key)."""
    with engine.begin() as connection:
        slip = changeable_slip(connection, merchant_id, slip_id, "authorized")
    return _authorize(engine, gateway, slip.id, merchant_id, slip_id, slip.amount, card_token, slip.amount, at)


def _next_sequence(connection: Connection, slip_row_id: int) -> int:
    return connection.execute(
        select(func.coalesce(func.max(slip_authorizations.c.sequence), 0) + 1).where(
            slip_authorizations.c.slip_row_id == slip_row_id
        )
    ).scalar_one()


def _authorize(
    engine: Engine,
    gateway: CardGateway,
    slip_row_id: int,
    merchant_id: str,
    slip_id: str,
    amount: int,
    card_token: str,
    current: int,
    at: datetime,
) -> str:
    """Authorize `amount` yen for the slip: a pending row (its key) first, committed, then the
    gateway, then the answer recorded. A pending row of the same amount is asked again with its
    key; one of another amount must be settled first (run the command with that amount)."""
    name = _name(merchant_id, slip_id)
    with engine.begin() as connection:
        pending = connection.execute(
            select(
                slip_authorizations.c.authorization_id,
                slip_authorizations.c.amount,
                slip_authorizations.c.idempotency_key,
            ).where(slip_authorizations.c.slip_row_id == slip_row_id, slip_authorizations.c.state == PENDING)
        ).one_or_none()
        if pending is not None and pending.amount != amount:
            raise SlipOperationError(
                AUTHORIZATION_UNSETTLED,
                f"{name}: an authorization of {pending.amount:,} yen is still unanswered by the card gateway; "
                f"the amount stays {current:,} yen: run the same command for {current + pending.amount:,} yen "
                "first to settle it",
            )
        if pending is None:
            sequence = _next_sequence(connection, slip_row_id)
            key = _key_of_authorization(slip_row_id, sequence)
            authorization_id = connection.execute(
                insert(slip_authorizations)
                .values(
                    slip_row_id=slip_row_id,
                    sequence=sequence,
                    amount=amount,
                    card_token=card_token,
                    state=PENDING,
                    idempotency_key=key,
                )
                .returning(slip_authorizations.c.authorization_id)
            ).scalar_one()
        else:
            authorization_id, key = pending.authorization_id, pending.idempotency_key
    result = gateway.authorize(key, card_token, amount, reference=slip_id)
    row = slip_authorizations.c.authorization_id == authorization_id
    if result.kind == APPROVED:
        with engine.begin() as connection:
            taken = connection.execute(
                update(slip_authorizations)
                .where(row, slip_authorizations.c.state == PENDING)
                .values(
                    state=HELD,
                    transaction_id=result.transaction_id,
                    approval_number=result.approval_number,
                    authorized_at=at,
                )
            ).rowcount
        if taken:
            return result.approval_number or ""
        # The daily run settled (and released) it meanwhile: nothing changed here.
        raise SlipOperationError(
            AUTHORIZATION_UNANSWERED,
            f"{name}: the authorization of {amount:,} yen was settled by the daily run meanwhile; "
            f"the amount stays {current:,} yen: run the same command again",
        )
    if result.kind == DECLINED:
        with engine.begin() as connection:
            connection.execute(
                update(slip_authorizations).where(row).values(state=AuthorizationState.DECLINED, reason=result.reason)
            )
        raise SlipOperationError(
            AUTHORIZATION_DECLINED,
            f"{name}: the card company declined the authorization of {amount:,} yen ({result.reason}); "
            f"the amount stays {current:,} yen",
        )
    raise SlipOperationError(
        AUTHORIZATION_UNANSWERED,
        f"{name}: the card gateway did not answer the authorization of {amount:,} yen ({result.reason}); "
        f"the amount stays {current:,} yen: run the same command again (it is never authorized twice)",
    )


# -- the operations -------------------------------------------------------------------------------


def cancel_with_authorization(
    engine: Engine, gateway: CardGateway, merchant_id: str, slip_id: str, cancelled_at: datetime
) -> OperationResult:
    """Cancel an unconfirmed slip and void all its authorizations still hold."""
    with engine.begin() as connection:
        slip = changeable_slip(connection, merchant_id, slip_id, "cancelled")
        cancel_slip(connection, merchant_id, slip_id, cancelled_at)
        void_ids = plan_voids(connection, slip.id, None, CANCEL, japan_date_of(cancelled_at))
        on_record = _has_authorization(connection, slip.id)
    return _settled(engine, gateway, void_ids, cancelled_at, _name(merchant_id, slip_id), on_record)


def change_amount_with_authorization(
    engine: Engine,
    gateway: CardGateway,
    merchant_id: str,
    slip_id: str,
    amount: int | str,  # as typed when not a whole number: refused by name below
    changed_at: datetime,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
) -> OperationResult:
    """Change the amount of an unconfirmed slip: an increase authorizes the difference first (declined
    or unanswered, the amount stays and SlipOperationError says why); a decrease voids it."""
    name = _name(merchant_id, slip_id)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise SlipOperationError(INVALID_AMOUNT, f"{name}: the amount must be a whole number of yen, not {amount!r}")
    if not in_range(amount, max_amount):
        raise SlipOperationError(
            AMOUNT_OUT_OF_RANGE, f"{name}: {out_of_range(amount, max_amount)}; nothing was changed"
        )
    with engine.begin() as connection:
        slip = changeable_slip(connection, merchant_id, slip_id, "changed in amount")
        held = _held(connection, slip.id)
        changes_here = amount <= slip.amount or not held
        if changes_here:
            change_amount(connection, merchant_id, slip_id, amount, changed_at, max_amount)
            void_ids = (
                plan_voids(connection, slip.id, slip.amount - amount, DECREASE, japan_date_of(changed_at))
                if amount < slip.amount
                else []
            )
            on_record = _has_authorization(connection, slip.id)
    if changes_here:  # the voids are asked for once the change has committed
        return _settled(engine, gateway, void_ids, changed_at, name, on_record)
    token = next((row.card_token for row in held if row.card_token), None)
    if token is None:
        raise SlipOperationError(
            NO_CARD_TOKEN,
            f"{name}: its authorization has no card token on record, so the increase cannot be authorized; "
            f"the amount stays {slip.amount:,} yen",
        )
    difference = amount - slip.amount
    approval = _authorize(engine, gateway, slip.id, merchant_id, slip_id, difference, token, slip.amount, changed_at)
    try:
        with engine.begin() as connection:
            change_amount(connection, merchant_id, slip_id, amount, changed_at, max_amount)
    except SlipOperationError:
        # The slip changed meanwhile: the new authorization holds for nothing; release it.
        with engine.begin() as connection:
            void_ids = plan_voids(connection, slip.id, difference, DECREASE, japan_date_of(changed_at))
        settle_voids(engine, gateway, changed_at, void_ids)
        raise
    return OperationResult([f"{name}: the increase of {difference:,} yen is authorized (承認番号 {approval})"])


@dataclass(frozen=True)
class _Held:
    authorization_id: int
    amount: int
    voided_amount: int
    card_token: str | None


def _held(connection: Connection, slip_row_id: int) -> list[_Held]:
    """The slip's authorizations that still hold, newest first."""
    rows = connection.execute(
        select(
            slip_authorizations.c.authorization_id,
            slip_authorizations.c.amount,
            slip_authorizations.c.voided_amount,
            slip_authorizations.c.card_token,
        )
        .where(slip_authorizations.c.slip_row_id == slip_row_id, slip_authorizations.c.state == HELD)
        .order_by(slip_authorizations.c.sequence.desc())
    ).all()
    return [_Held(**row._mapping) for row in rows]


def _has_authorization(connection: Connection, slip_row_id: int) -> bool:
    return (
        connection.execute(select(func.count()).where(slip_authorizations.c.slip_row_id == slip_row_id)).scalar_one()
        > 0
    )


def plan_voids(
    connection: Connection, slip_row_id: int, release: int | None, purpose: str, day: date, only: int | None = None
) -> list[int]:
    """Write the voids releasing `release` yen (None: all) of the slip's held authorizations (or of
    authorization `only`), newest first, in the caller's transaction; returns their ids. Nothing is
    asked of the gateway here."""
    void_ids = []
    left = release
    for held in _held(connection, slip_row_id):
        if only is not None and held.authorization_id != only:
            continue
        remaining = held.amount - held.voided_amount
        take = remaining if left is None else min(remaining, left)
        if take <= 0:
            continue
        sequence = connection.execute(
            select(func.count() + 1).where(authorization_voids.c.authorization_id == held.authorization_id)
        ).scalar_one()
        void_ids.append(
            connection.execute(
                insert(authorization_voids)
                .values(
                    authorization_id=held.authorization_id,
                    sequence=sequence,
                    amount=take,
                    purpose=purpose,
                    idempotency_key=f"void-{held.authorization_id}-{sequence}",
                    business_date=day,
                )
                .returning(authorization_voids.c.void_id)
            ).scalar_one()
        )
        released = connection.execute(
            update(slip_authorizations)
            .where(
                slip_authorizations.c.authorization_id == held.authorization_id,
                slip_authorizations.c.state == HELD,
                slip_authorizations.c.voided_amount == held.voided_amount,
            )
            .values(voided_amount=held.voided_amount + take)
        ).rowcount
        if released != 1:  # another operation released it meanwhile: this transaction rolls back
            raise SlipOperationError(
                CONCURRENT_CHANGE,
                f"the authorization of slip row {slip_row_id} changed meanwhile; check it and try again",
            )
        if left is not None:
            left -= take
            if left == 0:
                break
    return void_ids


def _settled(
    engine: Engine, gateway: CardGateway, void_ids: list[int], at: datetime, name: str, on_record: bool
) -> OperationResult:
    if not on_record:
        return OperationResult([f"{name}: no authorization on record; nothing to void at the card company"])
    result = OperationResult(voids=settle_voids(engine, gateway, at, void_ids))
    for void in result.voids:
        if void.kind == VOIDED:
            result.lines.append(f"{name}: {void.amount:,} yen of its authorization voided")
        elif void.kind == REFUSED:
            result.lines.append(
                f"{VOID_REFUSED_SENTENCE}: {name}: the card company refused the void of {void.amount:,} yen "
                f"({void.reason}); the slip is changed on our side, the customer's hold stays until the card "
                "company releases it, and the merchant is told in tomorrow's mail"
            )
        else:
            result.lines.append(
                f"{name}: the card gateway did not answer the void of {void.amount:,} yen ({void.reason}); "
                "the slip is changed on our side and the next stale-slip run asks again with the same key"
            )
    return result


# -- asking the gateway ---------------------------------------------------------------------------


def settle_voids(
    engine: Engine,
    gateway: CardGateway,
    at: datetime,
    void_ids: list[int] | None = None,
    breaker: CircuitBreaker | None = None,
) -> list[VoidOutcome]:
    """Ask the gateway for each pending void (those of `void_ids`, else all), each answer recorded in
    its own transaction. A fault leaves the void pending for the next run (same key). With a
    breaker (the charges' kessai.gateway.circuit_breaker), the calls stop once it opens: the rest stay
    pending, reported as faults with reason not_sent."""
    query = (
        select(
            authorization_voids.c.void_id,
            authorization_voids.c.authorization_id,
            authorization_voids.c.amount,
            authorization_voids.c.purpose,
            authorization_voids.c.idempotency_key,
            slip_authorizations.c.transaction_id,
            slips.c.merchant_id,
            slips.c.slip_id,
        )
        .join(slip_authorizations, slip_authorizations.c.authorization_id == authorization_voids.c.authorization_id)
        .join(slips, slips.c.id == slip_authorizations.c.slip_row_id)
        .where(authorization_voids.c.outcome == PENDING)
        .order_by(authorization_voids.c.void_id)
    )
    if void_ids is not None:
        if not void_ids:
            return []
        query = query.where(authorization_voids.c.void_id.in_(void_ids))
    with engine.connect() as connection:
        pending = connection.execute(query).all()
    outcomes = []
    for void in pending:
        if breaker is None:
            result = gateway.void(void.idempotency_key, void.transaction_id, void.amount)
        else:
            result = breaker.call(gateway.void, void.idempotency_key, void.transaction_id, void.amount)
        if result is NOT_SENT:
            outcomes.append(
                VoidOutcome(void.void_id, void.merchant_id, void.slip_id, void.amount, KIND_FAULT, "not_sent")
            )
            continue
        with engine.begin() as connection:
            _record_void(connection, void, result.kind, result.reason, at)
        outcomes.append(
            VoidOutcome(void.void_id, void.merchant_id, void.slip_id, void.amount, result.kind, result.reason)
        )
        if result.kind not in (VOIDED, REFUSED):
            log.warning(
                "void %s of %s: no answer (%s); asked again on the next run",
                void.idempotency_key,
                _name(void.merchant_id, void.slip_id),
                result.reason,
            )
    return outcomes


def _record_void(connection: Connection, void, kind: str, reason: str | None, at: datetime) -> None:
    this = authorization_voids.c.void_id == void.void_id
    if kind not in (VOIDED, REFUSED):
        connection.execute(
            update(authorization_voids).where(this).values(attempts=authorization_voids.c.attempts + 1, reason=reason)
        )
        return
    connection.execute(
        update(authorization_voids)
        .where(this, authorization_voids.c.outcome == PENDING)
        .values(outcome=kind, reason=reason, settled_at=at, attempts=authorization_voids.c.attempts + 1)
    )
    authorization = slip_authorizations.c.authorization_id == void.authorization_id
    if kind == REFUSED and void.purpose in (CANCEL, EXPIRY, UNUSED):
        connection.execute(
            update(slip_authorizations)
            .where(authorization, slip_authorizations.c.state == HELD)
            .values(state=AuthorizationState.VOID_REFUSED)
        )
        return
    # Voided: the authorization is done once all it held is released and every void of it voided.
    unsettled = connection.execute(
        select(func.count()).where(
            authorization_voids.c.authorization_id == void.authorization_id, authorization_voids.c.outcome != VOIDED
        )
    ).scalar_one()
    if unsettled:
        return
    connection.execute(
        update(slip_authorizations)
        .where(
            authorization,
            slip_authorizations.c.state == HELD,
            slip_authorizations.c.voided_amount == slip_authorizations.c.amount,
        )
        .values(state=AuthorizationState.EXPIRED if void.purpose == EXPIRY else AuthorizationState.VOIDED)
    )


# -- the daily run --------------------------------------------------------------------------------


def plan_expiry_voids(connection: Connection, run_date: date) -> int:
    """In the expiry's transaction: a full void for every held authorization of an expired slip.
    Returns the number of voids planned."""
    planned = connection.execute(
        sql_text("slips/authorizations/plan_expiry_voids", connection.dialect.name).bindparams(
            bindparam("run_date", type_=Date)
        ),
        {"run_date": run_date},
    ).rowcount
    if planned:
        connection.execute(sql_text("slips/authorizations/expiry_voids_planned", connection.dialect.name))
    return planned


@dataclass(frozen=True, slots=True)
class HoldsReleased(Result):
    """The daily run's authorizations step: authorizations captured, late ones voided, the voids'
    answers (voided, refused, unanswered) and the refusal mails written."""

    captured: int
    late_authorizations_voided: int
    voided: int
    refused: int
    unanswered: int
    merchant_mails: int
    operator_mails: int


def release_holds(
    engine: Engine,
    gateway: CardGateway,
    run_date: date,
    at: datetime,
    operator_email: str,
    breaker: CircuitBreaker | None = None,
) -> HoldsReleased:
    """The daily run's step after the expiry committed: authorizations of transmitted slips marked
    captured, every pending void asked of the gateway (the expiry's, and those of cancels and
    changes whose answer never came), the refusals not yet told mailed to their merchant (one mail a
    merchant a day) and to the operators (one mail a day). Raises TransientFault when voids are
    still unanswered, after the mails are written, so that the task is retried."""
    with engine.begin() as connection:
        captured = connection.execute(sql_text("slips/authorizations/captured", connection.dialect.name)).rowcount
    late = settle_pending_authorizations(engine, gateway, run_date, at, breaker)
    outcomes = settle_voids(engine, gateway, at, breaker=breaker)
    with engine.begin() as connection:
        merchant_mails, operator_mails = _tell_refusals(connection, run_date, operator_email)
    summary = HoldsReleased(
        captured=captured,
        late_authorizations_voided=late,
        voided=sum(o.kind == VOIDED for o in outcomes),
        refused=sum(o.kind == REFUSED for o in outcomes),
        unanswered=sum(o.kind not in (VOIDED, REFUSED) for o in outcomes),
        merchant_mails=merchant_mails,
        operator_mails=operator_mails,
    )
    log.info("authorizations: %s", summary.as_dict())
    if summary.unanswered:
        stopped = f" (the circuit breaker opened: {breaker.reason})" if breaker is not None and breaker.is_open else ""
        raise TransientFault(
            f"{summary.unanswered} void(s) got no answer from the card gateway on {run_date}{stopped}; "
            "they stay pending and are asked again with the same keys"
        )
    return summary


def settle_pending_authorizations(
    engine: Engine, gateway: CardGateway, run_date: date, at: datetime, breaker: CircuitBreaker | None = None
) -> int:
    """An increase whose authorization went unanswered left it pending, and the amount unchanged. Ask
    again with its key: approved (the hold exists), it is recorded and a full void of it written
    (purpose unused), so no hold outlives the command that wanted it; declined, it is recorded.
    The operator who runs the command again meanwhile finds it settled and authorizes anew.
    Returns the number of such voids written."""
    with engine.connect() as connection:
        pending = connection.execute(
            select(
                slip_authorizations.c.authorization_id,
                slip_authorizations.c.slip_row_id,
                slip_authorizations.c.amount,
                slip_authorizations.c.card_token,
                slip_authorizations.c.idempotency_key,
                slips.c.slip_id,
            )
            .join(slips, slips.c.id == slip_authorizations.c.slip_row_id)
            .where(slip_authorizations.c.state == PENDING)
            .order_by(slip_authorizations.c.authorization_id)
        ).all()
    planned = 0
    call = gateway.authorize if breaker is None else lambda *a, **k: breaker.call(gateway.authorize, *a, **k)
    for row in pending:
        result = call(row.idempotency_key, row.card_token, row.amount, reference=row.slip_id)
        if result is NOT_SENT or result.kind not in (APPROVED, DECLINED):
            continue
        this = (slip_authorizations.c.authorization_id == row.authorization_id) & (
            slip_authorizations.c.state == PENDING
        )
        with engine.begin() as connection:
            if result.kind == DECLINED:
                connection.execute(
                    update(slip_authorizations)
                    .where(this)
                    .values(state=AuthorizationState.DECLINED, reason=result.reason)
                )
                continue
            if connection.execute(
                update(slip_authorizations)
                .where(this)
                .values(
                    state=HELD,
                    transaction_id=result.transaction_id,
                    approval_number=result.approval_number,
                    authorized_at=at,
                )
            ).rowcount:
                planned += len(
                    plan_voids(connection, row.slip_row_id, None, UNUSED, run_date, only=row.authorization_id)
                )
    return planned


def _tell_refusals(connection: Connection, run_date: date, operator_email: str) -> tuple[int, int]:
    """Mail the refused voids no mail told yet: each merchant one mail of the day, the operators one."""
    refused = connection.execute(
        select(
            authorization_voids.c.void_id,
            authorization_voids.c.amount,
            authorization_voids.c.purpose,
            authorization_voids.c.business_date,
            authorization_voids.c.reason,
            authorization_voids.c.merchant_mail_id,
            authorization_voids.c.operator_mail_id,
            slip_authorizations.c.approval_number,
            slips.c.merchant_id,
            slips.c.slip_id,
            merchants.c.name.label("merchant_name"),
            merchants.c.email,
        )
        .join(slip_authorizations, slip_authorizations.c.authorization_id == authorization_voids.c.authorization_id)
        .join(slips, slips.c.id == slip_authorizations.c.slip_row_id)
        .join(merchants, merchants.c.merchant_id == slips.c.merchant_id)
        .where(
            authorization_voids.c.outcome == REFUSED,
            (authorization_voids.c.merchant_mail_id.is_(None)) | (authorization_voids.c.operator_mail_id.is_(None)),
        )
        .order_by(slips.c.merchant_id, authorization_voids.c.void_id)
    ).all()
    merchant_mails = 0
    for merchant_id, group in groupby([r for r in refused if r.merchant_mail_id is None], key=lambda r: r.merchant_id):
        rows = list(group)
        if not rows[0].email:
            continue  # the operators' mail names it
        key = f"{MERCHANT_MAIL_KIND}:{merchant_id}:{run_date.isoformat()}"
        mail_id = _new_mail(
            connection,
            key,
            MERCHANT_MAIL_KIND,
            rows[0].email,
            "authorization_void_refused",
            merchant_name=rows[0].merchant_name,
            voids=rows,
            sentence=VOID_REFUSED_SENTENCE,
        )
        if mail_id is not None:
            merchant_mails += 1
            connection.execute(
                update(authorization_voids)
                .where(authorization_voids.c.void_id.in_([r.void_id for r in rows]))
                .values(merchant_mail_id=mail_id)
            )
    untold = [r for r in refused if r.operator_mail_id is None]
    operator_mails = 0
    if untold:
        key = f"{OPERATOR_MAIL_KIND}:{run_date.isoformat()}"
        mail_id = _new_mail(
            connection,
            key,
            OPERATOR_MAIL_KIND,
            operator_email,
            "authorization_void_refused_operators",
            run_date=run_date,
            voids=untold,
            sentence=VOID_REFUSED_SENTENCE,
        )
        if mail_id is not None:
            operator_mails = 1
            connection.execute(
                update(authorization_voids)
                .where(authorization_voids.c.void_id.in_([r.void_id for r in untold]))
                .values(operator_mail_id=mail_id)
            )
    return merchant_mails, operator_mails


def _new_mail(
    connection: Connection, dedupe_key: str, kind: str, recipient: str, template: str, **values
) -> int | None:
    """Queue the mail unless the day's mail of this key is written already (a re-run of the day):
    then None, and what it would have added waits for the next day's mail."""
    if connection.execute(select(mail_outbox.c.mail_id).where(mail_outbox.c.dedupe_key == dedupe_key)).first():
        return None
    subject, body = render_mail(template, **values)
    return enqueue_mail(connection, kind=kind, dedupe_key=dedupe_key, recipient=recipient, subject=subject, body=body)
