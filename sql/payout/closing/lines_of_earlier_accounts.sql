-- Lines of the slips registered before their merchant's previous bank account took effect (a
-- merchant with three accounts or more): each is paid to the account whose period holds its
-- registration (bank_account_periods; the first account for a slip registered before any). Reads
-- only the slips of C of the merchants that have such slips (closing_slip_totals
-- .earlier_account_count), by ix_slips_closing.
INSERT INTO closing_lines (merchant_id, card_company, bank_account_id, slip_count, gross_amount, fee)
SELECT slips.merchant_id, slips.card_company, periods.bank_account_id,
       COUNT(*), SUM(slips.amount), CAST(SUM(slips.amount) AS BIGINT) * merchants.fee_rate_bp / 10000
FROM slips
JOIN merchants ON merchants.merchant_id = slips.merchant_id
JOIN bank_account_periods AS latest
  ON latest.merchant_id = slips.merchant_id AND latest.valid_to IS NULL
JOIN bank_account_periods AS periods
  ON periods.merchant_id = slips.merchant_id
 AND (periods.valid_from IS NULL OR periods.valid_from <= slips.confirmation_registered_at)
 AND periods.valid_to > slips.confirmation_registered_at
 AND periods.valid_to < latest.valid_from
WHERE slips.closing_date = :closing_date
  AND slips.merchant_id IN (
      SELECT merchant_id FROM closing_slip_totals WHERE earlier_account_count > 0
  )
  AND slips.confirmed_on IS NOT NULL
  AND slips.confirmed_on <= :closing_date
  AND slips.confirmation_registered_at < :closing_end
  AND (merchants.payout_cycle = 'twice_monthly' OR :month_end)
GROUP BY slips.merchant_id, slips.card_company, periods.bank_account_id, merchants.fee_rate_bp
