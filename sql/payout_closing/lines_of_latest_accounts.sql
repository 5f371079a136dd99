-- Lines of the slips paid to each merchant's latest bank account (the account whose period has no
-- end; NULL for a merchant without any), from closing_slip_totals. Only merchants whose cycle
-- closes on C. The fee is fee_rate_bp basis points of the line's gross, rounded down to the yen.
INSERT INTO closing_lines (merchant_id, card_company, bank_account_id, slip_count, gross_amount, fee)
SELECT closing_slip_totals.merchant_id, closing_slip_totals.card_company, latest.bank_account_id,
       closing_slip_totals.slip_count, closing_slip_totals.gross_amount,
       closing_slip_totals.gross_amount * merchants.fee_rate_bp / 10000
FROM closing_slip_totals
JOIN merchants ON merchants.merchant_id = closing_slip_totals.merchant_id
LEFT JOIN bank_account_periods AS latest
       ON latest.merchant_id = closing_slip_totals.merchant_id AND latest.valid_to IS NULL
WHERE closing_slip_totals.slip_count > 0
  AND (merchants.payout_cycle = 'twice_monthly' OR :month_end)
