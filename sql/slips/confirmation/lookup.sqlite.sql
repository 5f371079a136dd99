-- Copy the state of each named slip (its amount too), and its confirmation deadline, into the batch.
-- SQLite's '+N months' overflows into the next month (8/31 + 6 months = 3/3), so the deadline is
-- clipped to the last day of the target month (8/31 -> 2/28), as SPEC §3 counts months.
UPDATE confirmation_rows
SET slip_row_id = slips.id,
    payment_date = slips.payment_date,
    amount = slips.amount,
    deadline = MIN(
        date(slips.payment_date, '+' || :window_months || ' months'),
        date(slips.payment_date, 'start of month', '+' || (:window_months + 1) || ' months', '-1 day')
    ),
    existing_confirmed_on = slips.confirmed_on,
    cancelled_at = slips.cancelled_at
FROM slips
WHERE slips.merchant_id = confirmation_rows.merchant_id
  AND slips.slip_id = confirmation_rows.slip_id
  AND confirmation_rows.reason IS NULL
  AND confirmation_rows.held_back = :recheck
