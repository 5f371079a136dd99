-- Copy the state of each named slip (its amount too), and its confirmation deadline (payment date + N months,
-- clipped to the month's end as PostgreSQL's interval arithmetic does), into the batch.
UPDATE confirmation_rows
SET slip_row_id = slips.id,
    payment_date = slips.payment_date,
    amount = slips.amount,
    deadline = CAST(slips.payment_date + make_interval(months => CAST(:window_months AS INTEGER)) AS DATE),
    existing_confirmed_on = slips.confirmed_on,
    cancelled_at = slips.cancelled_at
FROM slips
WHERE slips.merchant_id = confirmation_rows.merchant_id
  AND slips.slip_id = confirmation_rows.slip_id
  AND confirmation_rows.reason IS NULL
  AND confirmation_rows.held_back = :recheck
