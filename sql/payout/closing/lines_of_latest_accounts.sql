-- Lines of the slips paid to each merchant's latest bank account (the account whose period has no
-- end; NULL for a merchant without any) and to the one before it (whose period ends where the
-- latest begins), from closing_slip_totals. Only merchants whose cycle closes on C. The fee is
-- fee_rate_bp basis points of the line's gross, rounded down to the yen.
INSERT INTO closing_lines (merchant_id, card_company, bank_account_id, slip_count, gross_amount, fee)
SELECT totals.merchant_id, totals.card_company, account.bank_account_id,
       totals.slip_count, totals.gross_amount, totals.gross_amount * merchants.fee_rate_bp / 10000
FROM (
    SELECT merchant_id, card_company, 0 AS account_rank, slip_count, gross_amount
    FROM closing_slip_totals WHERE slip_count > 0
    UNION ALL
    SELECT merchant_id, card_company, 1, previous_count, previous_gross
    FROM closing_slip_totals WHERE previous_count > 0
) AS totals
JOIN merchants ON merchants.merchant_id = totals.merchant_id
LEFT JOIN bank_account_periods AS latest
       ON latest.merchant_id = totals.merchant_id AND latest.valid_to IS NULL
LEFT JOIN bank_account_periods AS account
       ON account.merchant_id = totals.merchant_id
      AND ((totals.account_rank = 0 AND account.valid_to IS NULL)
           OR (totals.account_rank = 1 AND account.valid_to = latest.valid_from))
WHERE merchants.payout_cycle = 'twice_monthly' OR :month_end
