-- Confirm every acceptable row at once. The WHERE repeats the state the rows were checked
-- against, so a cancel or confirmation committed meanwhile wins and this row is left unapplied.
UPDATE slips
SET confirmed_on = confirmation_rows.confirmed_on,
    confirmation_registered_at = :registered_at,
    closing_date = confirmation_rows.closing_date
FROM confirmation_rows
WHERE confirmation_rows.slip_row_id = slips.id
  AND confirmation_rows.reason IS NULL
  AND slips.confirmed_on IS NULL
  AND slips.cancelled_at IS NULL
  AND slips.payment_date = confirmation_rows.payment_date
  AND slips.amount = confirmation_rows.amount
