-- On each line of C, the slips an earlier closing held back (payout_held_slips, see held_slips.sql):
-- paid now, late, and shown so on the statement. Read from the few held slips, not from the slips
-- of C. Each slip is placed on its bank account's line as the lines place it (bank_account_periods).
UPDATE closing_lines
SET held_back_count = held.slip_count, held_back_amount = held.amount
FROM (
    SELECT slips.merchant_id, slips.card_company, periods.bank_account_id,
           COUNT(*) AS slip_count, CAST(SUM(slips.amount) AS BIGINT) AS amount
    FROM slips
    JOIN bank_account_periods AS periods
      ON periods.merchant_id = slips.merchant_id
     AND (periods.valid_from IS NULL OR periods.valid_from <= slips.confirmation_registered_at)
     AND (periods.valid_to IS NULL OR periods.valid_to > slips.confirmation_registered_at)
    WHERE slips.id IN (SELECT slip_row_id FROM payout_held_slips WHERE closing_date < :closing_date)
      AND slips.closing_date = :closing_date
      AND slips.confirmed_on IS NOT NULL
    GROUP BY slips.merchant_id, slips.card_company, periods.bank_account_id
) AS held
WHERE closing_lines.merchant_id = held.merchant_id
  AND closing_lines.card_company = held.card_company
  AND closing_lines.bank_account_id = held.bank_account_id
