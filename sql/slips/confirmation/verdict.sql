-- SPEC §4.1: which rows may not be confirmed, and why (an amount outside 1..KESSAI_MAX_SLIP_AMOUNT,
-- which could never be transmitted: SPEC §4.6); the rest (reason NULL) may be applied.
-- A registration past the deadline is named before the date's own faults: no date can fix it.
-- Only refused rows are written.
UPDATE confirmation_rows
SET reason = verdicts.reason
FROM (
    SELECT line_number,
           CASE
               WHEN slip_row_id IS NULL THEN 'unknown_slip'
               WHEN cancelled_at IS NOT NULL THEN 'cancelled'
               WHEN existing_confirmed_on IS NOT NULL THEN 'already_confirmed'
               WHEN payment_date IS NULL THEN 'not_paid'
               WHEN NOT (amount BETWEEN 1 AND :max_amount) THEN 'amount_out_of_range'
               WHEN :registered_on > deadline THEN 'past_deadline'
               WHEN confirmed_on < payment_date THEN 'before_payment_date'
               WHEN confirmed_on > deadline THEN 'past_deadline'
               WHEN closing_date IS NULL THEN 'outside_calendar'
           END AS reason
    FROM confirmation_rows
    WHERE reason IS NULL
      AND held_back = :recheck
) AS verdicts
WHERE verdicts.line_number = confirmation_rows.line_number
  AND verdicts.reason IS NOT NULL
