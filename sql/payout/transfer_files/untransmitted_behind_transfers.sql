-- The transfers of the payout date, in no file yet, with slips behind them that have not gone to
-- their card company (docs/zengin-transfer-file.md, "Only what went out"): the slips of the
-- transfer's statement (its merchant and closing date) paid to the transfer's bank account (the
-- account whose period holds the slip's registration). Read from the untransmitted slips
-- (ix_slips_awaiting_transmission), a few, not from the slips paid.
SELECT payout_transfers.statement_id, payout_transfers.bank_account_id, payout_transfers.amount,
       payout_statements.merchant_id, payout_statements.closing_date,
       COUNT(*) AS slip_count, CAST(SUM(slips.amount) AS BIGINT) AS slip_amount
FROM slips
JOIN payout_statements
  ON payout_statements.merchant_id = slips.merchant_id
 AND payout_statements.closing_date = slips.closing_date
JOIN payout_transfers ON payout_transfers.statement_id = payout_statements.statement_id
JOIN bank_account_periods AS periods
  ON periods.bank_account_id = payout_transfers.bank_account_id
 AND (periods.valid_from IS NULL OR periods.valid_from <= slips.confirmation_registered_at)
 AND (periods.valid_to IS NULL OR periods.valid_to > slips.confirmation_registered_at)
WHERE slips.transmitted_on IS NULL
  AND slips.confirmed_on IS NOT NULL
  AND payout_transfers.payout_date = :payout_date
  AND payout_transfers.transfer_file_id IS NULL
GROUP BY payout_transfers.statement_id, payout_transfers.bank_account_id, payout_transfers.amount,
         payout_statements.merchant_id, payout_statements.closing_date
ORDER BY payout_statements.merchant_id, payout_transfers.bank_account_id
