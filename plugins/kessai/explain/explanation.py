"""Every date of a slip with the rule that set it (`python -m kessai explain`, docs/operations.md).

The facts come from the business database (kessai.explain.facts); the rules' dates are computed
again with the business calendar, naming the days a rule skipped and why. Where a stored fact
differs from the rule (sent late, held back at a closing and paid with a later one, written after
its closing ran) a step says both and why. English or Japanese, the same facts.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from kessai.calendar.business_calendar import BusinessCalendar
from kessai.calendar.rules import (
    MONTHLY,
    PAYOUT_RULES,
    add_months,
    closing_date_for,
    closing_date_on_or_after,
    confirmation_deadline,
    is_closing_date,
    payout_date,
    recurring_charge_date,
    stale_from,
    transmission_date,
)
from kessai.calendar.run_dates import JAPAN
from kessai.explain.facts import SlipAmbiguous, SlipFacts, SlipNotFound, find_slip, read_facts
from kessai.explain.words import (
    check_language,
    count,
    day,
    days_between,
    describe_closed_days,
    moment,
    pick,
    short,
    yen,
)
from kessai.gateway.card_gateway import ChargeOutcome
from kessai.reminders.stale_slips import FINAL_NOTICE_DAYS, ReminderReason, expires_on
from kessai.transmission.daily import HOLD_REASONS

__all__ = ["SlipAmbiguous", "SlipExplanation", "SlipNotFound", "Step", "explain_slip", "render_text"]


class StepState(StrEnum):
    """Where a step of a slip's life stands."""

    DONE = "done"
    PENDING = "pending"
    HELD = "held"
    FAILED = "failed"
    INFO = "info"


DONE, PENDING, HELD, FAILED, INFO = StepState

HOLD_DAYS_NAMED = 5  # transmission runs named one by one; more are said as a range

HOLD_REASONS_JA = {
    "unknown_card_company": "カード会社が card_companies に登録されていない",
    "merchant_without_store_names": "店舗名（漢字・カナ・英字）が揃っていない",
    "not_transmitted": "送信されていない（送信日の処理が行われていない）",
    "rejected_by_card_company": "カード会社が受け付けなかった（受領結果で不承認）",
    "awaiting_acknowledgement": "カード会社の受領結果（承認）をまだ受け取っていない",
}
CLOSING_HOLD_REASONS: dict[str, str] = {
    **{str(reason): text for reason, text in HOLD_REASONS.items()},
    "not_transmitted": "no transmission run held it back, it was not sent (a transmission day missed)",
    "rejected_by_card_company": "it went out but its card company rejected it (its acknowledgement)",
    "awaiting_acknowledgement": "its card company must accept it first and no acceptance was read",
}
OUTCOMES = {
    "succeeded": ("succeeded", "成功"),
    "declined": ("declined by the issuer", "カード会社が承認せず"),
    "error": ("refused: the card is invalid or expired", "カード不備で受付不可"),
    "unknown": (
        "unknown (a gateway fault): settled by lookup before charging again",
        "結果不明（ゲートウェイ障害）：照会後に再課金",
    ),
    "pending": ("sent, outcome not yet recorded", "送信済み・結果未記録"),
    "not_executed": ("never executed (the lookup found nothing)", "未実行（照会で該当なし）"),
}
OUTCOME_STATES = {ChargeOutcome.SUCCEEDED: DONE, ChargeOutcome.DECLINED: FAILED, ChargeOutcome.ERROR: FAILED}


@dataclass(frozen=True)
class Step:
    key: str  # stable id: payment_date, confirmation, deadline, transmission, hold, closing, ...
    title: str  # localized heading
    value: str  # localized value
    rule: str  # localized sentence naming the rule and its inputs
    state: StepState


@dataclass(frozen=True)
class SlipExplanation:
    merchant_id: str
    slip_id: str
    kind: str  # one_off | recurring
    steps: tuple[Step, ...]  # in the slip's order of life
    lang: str = "en"
    amount: int = 0
    card_company: str = ""

    def as_dict(self) -> dict:
        return {
            "merchant_id": self.merchant_id,
            "slip_id": self.slip_id,
            "kind": self.kind,
            "lang": self.lang,
            "amount": self.amount,
            "card_company": self.card_company,
            "steps": [asdict(step) for step in self.steps],
        }


def explain_slip(
    connection: Connection,
    slip_id: str,
    *,
    merchant_id: str | None = None,
    calendar: BusinessCalendar,
    lang: str = "en",
) -> SlipExplanation:
    """Every date and state of one slip with its rule. SlipNotFound, SlipAmbiguous otherwise."""
    check_language(lang)
    facts = read_facts(connection, find_slip(connection, slip_id, merchant_id))
    story = _Story(facts, calendar, lang)
    story.tell()
    slip = facts.slip
    return SlipExplanation(
        merchant_id=slip["merchant_id"],
        slip_id=slip["slip_id"],
        kind="recurring" if slip["subscription_id"] is not None else "one_off",
        steps=tuple(story.steps),
        lang=lang,
        amount=int(slip["amount"]),
        card_company=slip["card_company"],
    )


@dataclass
class _Story:
    facts: SlipFacts
    calendar: BusinessCalendar
    lang: str
    steps: list[Step] = field(default_factory=list)

    # -- helpers ------------------------------------------------------------------------------

    def t(self, en: str, ja: str) -> str:
        return pick(self.lang, en, ja)

    def day(self, d: date | None) -> str:
        return day(d, self.lang)

    def yen(self, amount: int) -> str:
        return yen(amount, self.lang)

    def add(self, key: str, title: tuple[str, str], value: str, rule: str, state: StepState) -> None:
        self.steps.append(Step(key, self.t(*title), value, rule, state))

    def skipped(self, start: date, end: date) -> str:
        """Why the days strictly between start and end were no business days ("" if none)."""
        days = days_between(start, end)
        return describe_closed_days(self.calendar, days, self.facts.declared_closures, self.lang) if days else ""

    @property
    def slip(self) -> dict:
        return self.facts.slip

    @property
    def cycle(self) -> str:
        return self.facts.merchant["payout_cycle"]

    # -- the story ----------------------------------------------------------------------------

    def tell(self) -> None:
        recurring = self.slip["subscription_id"] is not None
        if recurring:
            self.recurring()
        self.payment_date()
        if recurring:
            self.recurring_outcome()
        self.confirmation()
        self.deadline()
        if self.facts.effective_on is not None:
            self.transmission()
            self.closing()
        self.stale_and_expiry()
        self.adjustments()

    # -- recurring ------------------------------------------------------------------------------

    def recurring(self) -> None:
        slip, facts = self.slip, self.facts
        month = slip["billing_month"]
        self.add(
            "billing_month",
            ("Billing month", "請求月"),
            self.t(f"{month:%Y-%m}", f"{month.year}年{month.month}月分"),
            self.t(
                f"a recurring slip of subscription {slip['subscription_id']}: its 2nd and later slips are made with an "
                "empty payment date, one per billing month, and charged on the charge day (SPEC §4.3)",
                f"定期課金 {slip['subscription_id']} の2回目以降の伝票：請求月ごとに1件、入金日を空で作成し、課金日に課金します",
            ),
            INFO,
        )
        charge_day = recurring_charge_date(month.year, month.month, self.calendar)
        the_27th = month.replace(day=27)
        closed = self.skipped(the_27th - timedelta(days=1), charge_day)
        rule = self.t(
            f"business_day_on_or_after({the_27th}) = {self.day(charge_day)}"
            + (f": skipped {closed}" if closed else ": the 27th is a business day"),
            f"請求月の27日（{the_27th}）、営業日でなければ翌営業日 = {self.day(charge_day)}"
            + (f"：{closed}を除く" if closed else "：27日が営業日"),
        )
        self.add(
            "charge",
            ("Charge day", "課金日"),
            self.day(charge_day),
            rule,
            DONE if facts.attempts or facts.charge_cycle else PENDING,
        )
        for attempt in facts.attempts:
            en, ja = OUTCOMES.get(attempt["outcome"], (attempt["outcome"], attempt["outcome"]))
            reason = f" ({attempt['reason']})" if attempt["reason"] else ""
            resolved = attempt["resolved_at"]
            self.add(
                "charge_attempt",
                (f"Charge attempt {attempt['attempt_number']}", f"課金 {attempt['attempt_number']}回目"),
                self.t(en, ja) + reason,
                self.t(
                    f"charged on {self.day(attempt['charge_date'])} at {moment(attempt['started_at'], 'en')} through the "
                    "card gateway with the slip's idempotency key (never charged twice)"
                    + (f"; settled by lookup at {moment(resolved, 'en')}" if resolved else ""),
                    f"{self.day(attempt['charge_date'])} {moment(attempt['started_at'], 'ja')}に冪等キー付きで課金（二重課金なし）"
                    + (f"、{moment(resolved, 'ja')}に照会で確定" if resolved else ""),
                ),
                OUTCOME_STATES.get(attempt["outcome"], PENDING),
            )

    def recurring_outcome(self) -> None:
        slip, facts = self.slip, self.facts
        month, cycle = slip["billing_month"], facts.charge_cycle
        if slip["payment_date"] is None and cycle is not None:
            last = facts.attempts[-1] if facts.attempts else None
            why = (last["reason"] or last["outcome"]) if last else "subscription_stopped"
            self.add(
                "charge_failed",
                ("Charge failed", "課金失敗"),
                self.t(f"failed: {why}", f"決済失敗：{why}"),
                self.t(
                    f"the charge of {month:%Y-%m} closed at {moment(cycle['closed_at'], 'en')} with this slip's payment "
                    "date still empty: a failed slip (SPEC §4.3); it is not charged again for this month",
                    f"{month.year}年{month.month}月分の課金は{moment(cycle['closed_at'], 'ja')}に締められ、入金日が空のため"
                    "決済失敗（この月の再課金はありません）",
                ),
                FAILED,
            )
        for mail in facts.recurring_mails:
            self.mail_step(
                mail,
                *{
                    "recurring_charge_failure": (
                        ("Failure notice to the merchant", "決済失敗のお知らせ（店舗あて）"),
                        ("the merchant's list of the month's failed slips", "店舗への決済失敗伝票の一覧"),
                    ),
                    "recurring_repayment_request": (
                        ("Re-payment request to the customer", "再決済のお願い（注文者あて）"),
                        (
                            "the merchant enabled re-payment requests to its customers",
                            "店舗が注文者への再決済のお願いを有効にしている",
                        ),
                    ),
                }[mail["kind"]],
            )

    def mail_step(self, mail: dict, title: tuple[str, str], why: tuple[str, str]) -> None:
        if mail["sent_at"] is not None:
            value, state = (
                self.t(
                    f"mail #{mail['mail_id']} sent {moment(mail['sent_at'], 'en')}",
                    f"メール #{mail['mail_id']} {moment(mail['sent_at'], 'ja')}送信",
                ),
                DONE,
            )
        elif mail.get("gave_up_at") is not None:
            value, state = (
                self.t(
                    f"mail #{mail['mail_id']} given up {moment(mail['gave_up_at'], 'en')}",
                    f"メール #{mail['mail_id']} {moment(mail['gave_up_at'], 'ja')}送信断念",
                ),
                FAILED,
            )
        else:
            value, state = (
                self.t(f"mail #{mail['mail_id']} in the outbox, not sent yet", f"メール #{mail['mail_id']} 送信待ち"),
                PENDING,
            )
        recipient = f" ({mail['recipient']})" if mail.get("recipient") else ""
        self.add("mail", title, value + recipient, self.t(*why), state)

    # -- payment, confirmation, deadline ---------------------------------------------------------

    def payment_date(self) -> None:
        slip = self.slip
        paid = slip["payment_date"]
        if slip["subscription_id"] is None:
            rule = self.t(
                "the day the card payment was authorised (written by the online side)",
                "カード決済が承認された日（オンライン側が記録）",
            )
        elif paid is not None:
            rule = self.t(
                f"filled with the charge day {paid} by the successful charge", f"課金日 {paid} の課金成功で記録"
            )
        else:
            rule = self.t(
                "empty until a charge succeeds: an empty payment date after the charge is a failed slip",
                "課金が成功するまで空：課金後も空なら決済失敗",
            )
        failed = paid is None and self.facts.charge_cycle is not None
        self.add(
            "payment_date",
            ("Payment date", "入金日"),
            self.day(paid) if paid else self.t("not paid", "未入金"),
            rule,
            DONE if paid else (FAILED if failed else PENDING),
        )

    def confirmation(self) -> None:
        slip, facts = self.slip, self.facts
        if slip["confirmed_on"] is None:
            if slip["cancelled_at"] is not None:
                self.add(
                    "cancellation",
                    ("Cancelled", "取消"),
                    moment(slip["cancelled_at"], self.lang),
                    self.t(
                        "cancelled before confirmation: never transmitted nor paid",
                        "決済確定前に取消：送信も支払もされません",
                    ),
                    INFO,
                )
            elif slip["payment_date"] is not None:
                self.add(
                    "confirmation",
                    ("Confirmation", "決済確定"),
                    self.t("not confirmed", "未確定"),
                    self.t(
                        f"a confirmation may be registered and dated up to the deadline, "
                        f"{confirmation_deadline(slip['payment_date'])}",
                        f"確定期限 {confirmation_deadline(slip['payment_date'])} まで確定処理できます",
                    ),
                    FAILED if slip["expired_on"] else PENDING,
                )
            return
        registered, confirmed, effective = facts.registered_on, slip["confirmed_on"], facts.effective_on
        source = next((e["detail"] for e in facts.events if e["event"] == "confirmed"), None)
        via = ""
        if source and '"import"' in source:
            via = self.t(" (a confirmation import)", "（確定ファイルの取込）")
        if confirmed < registered:
            dated = self.t(
                f"; confirmed_on is backdated: it counts from its registration, {registered}",
                f"。決済確定日が過去日付のため確定処理日 {registered} から数えます",
            )
        elif confirmed > registered:
            dated = self.t(
                f"; confirmed_on is in the future: it counts from its date, {confirmed}",
                f"。決済確定日が未来日付のためその日 {confirmed} から数えます",
            )
        else:
            dated = ""
        self.add(
            "confirmation",
            ("Confirmation", "決済確定"),
            self.t(
                f"registered {moment(slip['confirmation_registered_at'], 'en')}{via}; confirmed_on {self.day(confirmed)}",
                f"確定処理日 {moment(slip['confirmation_registered_at'], 'ja')}{via}、決済確定日 {self.day(confirmed)}",
            ),
            self.t(
                f"takes effect on max(registered {registered}, confirmed_on {confirmed}) = {self.day(effective)}{dated}",
                f"max(確定処理日 {registered}, 決済確定日 {confirmed}) = {self.day(effective)} から有効{dated}",
            ),
            DONE,
        )

    def deadline(self) -> None:
        paid = self.slip["payment_date"]
        if paid is None:
            return
        deadline = confirmation_deadline(paid)
        rule = self.t(
            f"payment date {paid} + 6 months = {deadline}: the last day a confirmation may be registered or dated (SPEC §4.1)",
            f"入金日 {paid} の6か月後 = {deadline}：確定処理・決済確定日ともこの日まで",
        )
        if self.slip["confirmed_on"] is not None:
            rule += self.t(
                f"; kept (registered {self.facts.registered_on})", f"（{self.facts.registered_on} に確定済み）"
            )
        self.add(
            "deadline",
            ("Confirmation deadline", "確定期限"),
            self.day(deadline),
            rule,
            DONE if self.slip["confirmed_on"] else INFO,
        )

    # -- transmission -------------------------------------------------------------------------

    def transmission(self) -> None:
        slip, facts = self.slip, self.facts
        registered, confirmed, effective = facts.registered_on, slip["confirmed_on"], facts.effective_on
        assert registered is not None and effective is not None  # told only of a registered confirmation
        due = transmission_date(registered, confirmed, self.calendar)
        closed = self.skipped(effective, due)
        rule = self.t(
            f"next_business_day(max(registered {registered}, confirmed_on {confirmed})) = {self.day(due)}"
            + (f": skipped {closed}" if closed else ""),
            f"max(確定処理日 {registered}, 決済確定日 {confirmed}) の翌営業日 = {self.day(due)}"
            + (f"：{closed}を除く" if closed else ""),
        )
        sent = slip["transmitted_on"]
        if sent is None:
            value = self.t(f"due {self.day(due)}; not sent", f"予定 {self.day(due)}、未送信")
            state = HELD if facts.transmission_holds else PENDING
        else:
            value = self.day(sent)
            batch = facts.batch
            if batch:
                rule += self.t(
                    f"; sent on {sent} in batch #{batch['batch_id']} to {batch['card_company']}, file {batch['file_name']}"
                    f" (#{batch['sequence_number']}, {count(batch['record_count'], 'slip', 'en')})",
                    f"。{sent} にバッチ #{batch['batch_id']}（{batch['card_company']}、ファイル {batch['file_name']}、"
                    f"第{batch['sequence_number']}回、{batch['record_count']}件）で送信",
                )
            if sent > due:
                late = len(self.calendar.business_days(due, sent)) - 1
                why = (
                    self.t("held back first (below)", "先に保留（下記）")
                    if facts.transmission_holds
                    else self.t(
                        "its transmission day was missed: it went with the next run", "送信日の処理がなく次の処理で送信"
                    )
                )
                value += self.t(f" (late by {late} business days: {why})", f"（{late}営業日遅れ：{why}）")
            stored_due = slip["transmission_due_on"]
            if stored_due is not None and stored_due != due:
                rule += self.t(
                    f"; when it went the rule gave {stored_due} (the calendar has changed since)",
                    f"。送信時の予定日は {stored_due}（その後カレンダーが変更）",
                )
            state = DONE
        self.add("transmission", ("Transmission date (usage date)", "送信日（利用日）"), value, rule, state)
        if facts.transmission_holds:
            self.transmission_hold(sent)

    def transmission_hold(self, sent: date | None) -> None:
        holds = self.facts.transmission_holds
        reasons = sorted({h["reason"] for h in holds})
        run_days = sorted({h["business_date"] for h in holds})
        if len(run_days) > HOLD_DAYS_NAMED:  # a slip held for weeks: the first and the last run
            days = self.t(
                f"{len(run_days)} days, {short(run_days[0])} to {short(run_days[-1])}",
                f"{short(run_days[0])}～{short(run_days[-1])}（{len(run_days)}回）",
            )
        else:
            days = ", ".join(short(d) for d in run_days)
        why_en = "; ".join(f"{r}: {HOLD_REASONS.get(r, r)}" for r in reasons)
        why_ja = "、".join(f"{r}：{HOLD_REASONS_JA.get(r, r)}" for r in reasons)
        if "unknown_card_company" in reasons:
            why_en = why_en.replace("its card company", f"its card company {self.slip['card_company']}")
        after = self.t(
            f"; sent on {sent} once corrected"
            if sent
            else "; not sent yet: correct it and the next run sends it (late)",
            f"。修正後 {sent} に送信" if sent else "。未送信：修正すれば次の送信処理で送ります（遅延扱い）",
        )
        self.add(
            "hold",
            ("Held back from transmission", "送信保留"),
            self.t(f"held back: {', '.join(reasons)}", f"保留：{', '.join(reasons)}"),
            self.t(
                f"the transmission run{'s' if len(run_days) > 1 else ''} of {days} held it back ({why_en}): one bad slip never blocks a day",
                f"{days} の送信処理で保留（{why_ja}）：1件の不備で他の伝票は止まりません",
            )
            + after,
            DONE if sent else HELD,
        )

    # -- closing, statement, payout, transfer --------------------------------------------------

    @property
    def cycle_name(self) -> str:
        """monthly / 月1回入金."""
        return self.t(self.cycle, "月1回入金" if self.cycle == MONTHLY else "月2回入金")

    def cycle_words(self) -> str:
        if self.cycle == MONTHLY:
            return self.t("monthly (closes on the last day of each month)", "月1回入金（毎月末締め）")
        return self.t(
            "twice_monthly (closes on the 15th and the last day of each month)", "月2回入金（15日・月末締め）"
        )

    def closing(self) -> None:
        slip, facts = self.slip, self.facts
        registered, confirmed, effective = facts.registered_on, slip["confirmed_on"], facts.effective_on
        assert registered is not None  # told only of a registered confirmation
        rule_closing = closing_date_for(self.cycle, registered, confirmed)
        stored = slip["closing_date"]
        rule = self.t(
            f"{self.cycle_words()}: the first closing on or after max(registered, confirmed_on) = {effective} is {rule_closing}",
            f"{self.cycle_words()}：max(確定処理日, 決済確定日) = {effective} 以後最初の締め日 = {rule_closing}",
        )
        by_date = closing_date_on_or_after(self.cycle, confirmed)
        if confirmed < registered and by_date != rule_closing:
            rule += self.t(
                f"; its backdated confirmed_on alone would give {by_date}, but it was registered after that closing: "
                "it counts toward the next one",
                f"。過去日付の決済確定日だけなら {by_date} ですが、その締め日の後に確定処理したため次の締めに入ります",
            )
        holds = facts.closing_holds
        if stored is None:
            self.add(
                "closing",
                ("Closing date", "締め日"),
                self.day(rule_closing),
                rule
                + self.t(f"; the run of closing {rule_closing} writes it", f"。締め処理 {rule_closing} で記録されます"),
                PENDING,
            )
        else:
            if stored != rule_closing:
                ran = facts.closings_ran.get(rule_closing)
                if holds:
                    rule += self.t(
                        f"; held back at closing {', '.join(str(d) for d in sorted({h['closing_date'] for h in holds}))}"
                        f" (below): moved to {stored}",
                        f"。締め {', '.join(str(d) for d in sorted({h['closing_date'] for h in holds}))} で保留（下記）："
                        f"{stored} に移動",
                    )
                elif ran is not None and slip["created_at"] > ran:
                    rule += self.t(
                        f"; written after closing {rule_closing} had run ({moment(ran, 'en')}): it went to the first "
                        f"closing still open, {stored} (paid late, not lost)",
                        f"。締め処理 {rule_closing}（{moment(ran, 'ja')}実行）の後に登録されたため、未実行の最初の締め日 "
                        f"{stored} に入りました（遅れて支払）",
                    )
                else:
                    rule += self.t(
                        f"; it carries {stored}: its merchant's cycle has changed since, or it carried a closing date "
                        "without belonging to it and was moved to a later closing",
                        f"。締め日 {stored}：その後の入金サイクル変更、または該当しない締め日が付いていたため後の締めに移動",
                    )
            state = DONE if stored in facts.closings_ran else PENDING
            self.add("closing", ("Closing date", "締め日"), self.day(stored), rule, state)
        for hold in holds:
            self.closing_hold(hold)
        closing = stored or rule_closing
        self.statement(closing)
        self.payout(closing)
        if facts.statement is not None:
            self.transfer()

    def closing_hold(self, hold: dict) -> None:
        closing, reason = hold["closing_date"], hold["reason"]
        registered = self.facts.registered_on
        assert registered is not None  # a held slip was registered
        due = transmission_date(registered, self.slip["confirmed_on"], self.calendar)
        next_closing = closing_date_on_or_after(self.cycle, closing + timedelta(days=1))
        self.add(
            "hold",
            ("Held back at the closing", "締め保留"),
            self.t(f"held back at {closing}: {reason}", f"{closing} の締めで保留：{reason}"),
            self.t(
                f"due to go out by the closing (transmission date {due}) but not sent by {closing} "
                f"({CLOSING_HOLD_REASONS.get(reason, reason)}): nothing is paid that did not go to a card company; "
                f"moved to the merchant's next closing, {next_closing}",
                f"締め日までに送信予定（送信日 {due}）でしたが {closing} までに未送信（{HOLD_REASONS_JA.get(reason, reason)}）："
                f"カード会社へ送信していない伝票は支払いません。次の締め日 {next_closing} に移動",
            ),
            DONE if self.paid_by_a_later_closing else HELD,
        )

    @property
    def paid_by_a_later_closing(self) -> bool:
        """Whether the closing the slip carries now has run (and so paid it: a closing that holds a
        slip back moves it on)."""
        return self.slip["closing_date"] in self.facts.closings_ran

    def statement(self, closing: date) -> None:
        facts = self.facts
        statement, line = facts.statement, facts.line
        if closing not in facts.closings_ran:
            self.add(
                "statement",
                ("Payout statement", "支払明細"),
                self.t("not issued yet", "未発行"),
                self.t(
                    f"closing {closing} has not run: it runs once {closing} has ended in Japan",
                    f"締め処理 {closing} は未実行（{closing} の終了後に実行）",
                ),
                PENDING,
            )
            return
        if statement is None:
            self.add(
                "statement",
                ("Payout statement", "支払明細"),
                self.t("none", "なし"),
                self.t(
                    f"closing {closing} ran with no statement of this merchant (before the books' start?)",
                    f"締め処理 {closing} にこの店舗の明細がありません（帳簿開始前？）",
                ),
                INFO,
            )
            return
        value = self.t(
            f"#{statement['statement_id']}: {count(statement['slip_count'], 'slip', 'en')}, gross {self.yen(statement['gross_amount'])}, "
            f"net {self.yen(statement['net_amount'])}",
            f"#{statement['statement_id']}：{statement['slip_count']}件、売上 {self.yen(statement['gross_amount'])}、"
            f"差引支払額 {self.yen(statement['net_amount'])}",
        )
        rule = self.t(
            f"closing {closing} issued it ({moment(facts.closings_ran[closing], 'en')})",
            f"締め処理 {closing} で発行（{moment(facts.closings_ran[closing], 'ja')}）",
        )
        if line is not None:
            account = facts.bank_account
            assert account is not None  # a statement line names its bank account
            rule += self.t(
                f"; the slip is on its line {line['card_company']} / bank account {account['bank_code']}-"
                f"{account['branch_code']} {account['account_number']} ({count(line['slip_count'], 'slip', 'en')}, "
                f"{self.yen(line['gross_amount'])}), the account in effect at its registration",
                f"。明細行 {line['card_company']}／口座 {account['bank_code']}-{account['branch_code']} "
                f"{account['account_number']}（{line['slip_count']}件、{self.yen(line['gross_amount'])}）：確定処理時点の口座",
            )
            if facts.closing_holds and line["held_back_count"]:
                rule += self.t(
                    f"; paid late: the line counts it among {line['held_back_count']} slips held back by an earlier closing",
                    f"。遅れて支払：前の締めで保留された{line['held_back_count']}件に含まれます",
                )
        self.add("statement", ("Payout statement", "支払明細"), value, rule, DONE)

    def payout(self, closing: date) -> None:
        facts = self.facts
        stored = facts.statement["payout_date"] if facts.statement else None
        if not is_closing_date(self.cycle, closing):  # the merchant's cycle changed since
            self.add(
                "payout",
                ("Payout date", "支払予定日"),
                self.day(stored),
                self.t(
                    f"{closing} is no closing date of the merchant's cycle now ({self.cycle}): its cycle has "
                    "changed since; the statement's date is shown",
                    f"{closing} は現在の入金サイクル（{self.cycle_name}）の締め日ではありません（サイクル変更）：明細の支払日を表示",
                ),
                DONE if facts.transfer_file is not None else PENDING,
            )
            return
        plan = PAYOUT_RULES[(self.cycle, closing.day == 15)]
        scheduled = add_months(closing.replace(day=1), plan.months_after_closing).replace(day=plan.payout_day)
        computed = payout_date(self.cycle, closing, self.calendar)
        which = self.t(
            "the same month" if plan.months_after_closing == 0 else "the next month",
            "同月" if plan.months_after_closing == 0 else "翌月",
        )
        rule = self.t(
            f"closing {closing} ({self.cycle}) is paid on the {plan.payout_day}th of {which}: {self.day(scheduled)}",
            f"締め日 {closing}（{self.cycle_name}）は{which}{plan.payout_day}日払い：{self.day(scheduled)}",
        )
        if computed != scheduled:
            why = describe_closed_days(
                self.calendar, days_between(computed, scheduled + timedelta(days=1)), facts.declared_closures, self.lang
            )
            direction = computed < scheduled
            rule += self.t(
                f", no business day ({why}): moved to the {'previous' if direction else 'next'} business day, "
                f"{self.day(computed)}",
                f"、営業日でない（{why}）ため{'前' if direction else '翌'}営業日 {self.day(computed)}",
            )
        if stored is not None and stored != computed:
            rule += self.t(
                f"; the statement says {stored} (issued with the calendar of then)",
                f"。明細の支払日は {stored}（発行時のカレンダー）",
            )
        filed = facts.transfer_file is not None
        self.add(
            "payout", ("Payout date", "支払予定日"), self.day(stored or computed), rule, DONE if filed else PENDING
        )

    def transfer(self) -> None:
        facts = self.facts
        statement, transfer = facts.statement, facts.transfer
        assert statement is not None  # told only of an issued statement
        title = ("Transfer", "振込")
        if transfer is None:
            if statement["net_amount"] <= 0 and statement["carried_forward"] > 0:
                self.add(
                    "transfer",
                    title,
                    self.t("none: carried forward", "なし：繰越"),
                    self.t(
                        f"the net {self.yen(statement['carried_forward'])} is below the minimum payout: it carries "
                        "forward to the merchant's next closing",
                        f"差引 {self.yen(statement['carried_forward'])} が最低支払額未満のため次の締めに繰越",
                    ),
                    INFO,
                )
            else:
                self.add(
                    "transfer",
                    title,
                    self.t("none", "なし"),
                    self.t(
                        "the statement has no transfer to the account of this slip",
                        "この伝票の口座への振込はありません",
                    ),
                    INFO,
                )
            return
        account = facts.bank_account
        assert account is not None  # a transfer names its bank account
        rule = self.t(
            f"{self.yen(transfer['amount'])} to {account['bank_code']}-{account['branch_code']} {account['account_number']} "
            f"on {transfer['payout_date']}",
            f"{transfer['payout_date']} に {account['bank_code']}-{account['branch_code']} {account['account_number']} へ "
            f"{self.yen(transfer['amount'])}",
        )
        for w in facts.withheld:
            rule += self.t(
                f"; the transfer-file run of {w['business_date']} withheld it ({w['reason']}: {w['slip_count']} slips "
                "behind it not transmitted)",
                f"。{w['business_date']} の振込ファイル作成で保留（{w['reason']}：未送信の伝票{w['slip_count']}件）",
            )
        file = facts.transfer_file
        if file is not None:
            value = self.t(
                f"in file {file['file_name']} (built {moment(file['created_at'], 'en')})",
                f"振込ファイル {file['file_name']}（{moment(file['created_at'], 'ja')}作成）",
            )
            state = DONE
        elif facts.withheld:
            value, state = self.t("withheld", "保留"), HELD
        else:
            value = self.t("not in a file yet", "振込ファイル未作成")
            rule += self.t(
                "; the transfer-file run builds it a few business days before the payout date",
                "。支払日の数営業日前の振込ファイル作成で入ります",
            )
            state = PENDING
        self.add("transfer", title, value, rule, state)

    # -- stale, expiry, reminders -------------------------------------------------------------

    def stale_and_expiry(self) -> None:
        slip, facts = self.slip, self.facts
        paid = slip["payment_date"]
        if paid is None:
            return
        stale, deadline = stale_from(paid), confirmation_deadline(paid)
        registered = facts.registered_on
        cancelled = slip["cancelled_at"].astimezone(JAPAN).date() if slip["cancelled_at"] else None
        rule = self.t(
            f"payment date {paid} + 3 months: an unconfirmed slip is stale from then and listed in its "
            "merchant's digests (SPEC §4.5)",
            f"入金日 {paid} の3か月後：未確定ならこの日から督促（お知らせ）の対象",
        )
        if registered is not None and registered < stale:
            rule += self.t(
                f"; confirmed on {registered}, before it: never stale", f"。{registered} に確定済みのため対象外"
            )
            state = INFO
        elif registered is not None:
            rule += self.t(f"; stale until its confirmation on {registered}", f"。{registered} の確定まで対象")
            state = DONE
        elif cancelled is not None and cancelled < stale:
            rule += self.t(f"; cancelled on {cancelled}, before it", f"。{cancelled} に取消済み")
            state = INFO
        else:
            state = DONE if slip["expired_on"] else PENDING
        self.add("stale", ("Stale from", "督促対象日"), self.day(stale), rule, state)

        expiry = expires_on(paid)
        expired_on = slip["expired_on"]
        expired_run = next((r["business_date"] for r in facts.reminders if r["reason"] == ReminderReason.EXPIRED), None)
        rule = self.t(
            f"the day after the deadline {deadline}: it can no longer be confirmed",
            f"確定期限 {deadline} の翌日：以後は確定できません",
        )
        if expired_on is not None:
            rule += self.t(
                f"; marked expired by the reminder run of {expired_run or expired_on}",
                f"。{expired_run or expired_on} のお知らせ処理で失効を記録",
            )
            self.add("expiry", ("Expired", "失効"), self.day(expired_on), rule, FAILED)
        elif registered is not None or cancelled is not None:
            self.add(
                "expiry",
                ("Expiry", "失効"),
                self.t("does not apply", "対象外"),
                rule + self.t("; it was confirmed or cancelled before", "。確定または取消済み"),
                INFO,
            )
        else:
            self.add(
                "expiry",
                ("Expiry", "失効"),
                self.t(f"expires {self.day(expiry)}", f"{self.day(expiry)} に失効予定"),
                rule,
                PENDING,
            )
        self.digests(stale, deadline, registered, cancelled, expired_run)

    def digests(self, stale: date, deadline: date, registered, cancelled, expired_run) -> None:
        facts = self.facts
        open_until = min(d for d in (registered, cancelled, expired_run, date.max) if d is not None)
        told_expired = {r["mail_id"] for r in facts.reminders if r["reason"] == ReminderReason.EXPIRED and r["mail_id"]}
        for digest in facts.digests:
            if digest["mail_id"] in told_expired:
                what = self.t("listed as expired", "失効した伝票として記載")
            elif digest["business_date"] < open_until and digest["as_of"] >= stale:
                final = (deadline - digest["as_of"]).days <= FINAL_NOTICE_DAYS
                what = self.t(
                    f"listed as open, deadline {deadline}"
                    + (f" (a final notice: within {FINAL_NOTICE_DAYS} days)" if final else ""),
                    f"未確定として記載、確定期限 {deadline}"
                    + (f"（最終のお知らせ：{FINAL_NOTICE_DAYS}日以内）" if final else ""),
                )
            else:
                continue
            self.mail_step(
                {**digest, "recipient": None},
                ("Stale-slip digest", "未確定伝票のお知らせ"),
                (
                    f"digest {digest['period']} as of {digest['as_of']} (the run of {digest['business_date']}): {what}",
                    f"{digest['period']}（{digest['as_of']} 時点、{digest['business_date']} の処理）：{what}",
                ),
            )

    # -- adjustments ----------------------------------------------------------------------------

    def adjustments(self) -> None:
        for event in self.facts.events:
            if event["event"] != "amount_changed":
                continue
            detail = json.loads(event["detail"] or "{}")
            self.add(
                "adjustment",
                ("Amount changed", "金額変更"),
                f"{self.yen(detail.get('from', 0))} → {self.yen(detail.get('to', 0))}",
                self.t(
                    f"changed at {moment(event['occurred_at'], 'en')}, before confirmation (a confirmed slip's amount "
                    "can no longer change)",
                    f"{moment(event['occurred_at'], 'ja')}に変更（決済確定後は変更できません）",
                ),
                INFO,
            )


# -- text -----------------------------------------------------------------------------------------

STATES = {
    "en": {DONE: "done", PENDING: "pending", HELD: "held", FAILED: "failed", INFO: "info"},
    "ja": {DONE: "済", PENDING: "未", HELD: "保留", FAILED: "失敗", INFO: "参考"},
}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def render_text(explanation: SlipExplanation) -> str:
    """The explanation as an operator reads it: a heading, then one block per step (title, value
    and state aligned; the rule indented below)."""
    lang = explanation.lang
    kind = {"one_off": ("one-off", "通常"), "recurring": ("recurring", "定期課金")}[explanation.kind]
    head = pick(
        lang,
        f"slip {explanation.slip_id} of merchant {explanation.merchant_id} ({kind[0]}, "
        f"{yen(explanation.amount, lang)}, {explanation.card_company})",
        f"店舗 {explanation.merchant_id} の伝票 {explanation.slip_id}（{kind[1]}、{yen(explanation.amount, lang)}、"
        f"{explanation.card_company}）",
    )
    states = STATES[lang]
    title_width = max((_width(step.title) for step in explanation.steps), default=0) + 2
    state_width = max(_width(s) for s in states.values()) + 3
    lines = [head, ""]
    for step in explanation.steps:
        lines.append(_pad(f"[{states[step.state]}]", state_width) + _pad(step.title, title_width) + step.value)
        lines.append(" " * (state_width + title_width) + step.rule)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
