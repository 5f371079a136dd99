-- What each paid statement of C transfers to each bank account (docs/payout-closing.md,
-- "Two bank accounts"): every account gets the gross less fee of its lines; the carried-in balance
-- goes to the merchant's current account (the one in effect when the closing date ends,
-- the end of C); the transfer fee comes off the current account's transfer first and, where that
-- is smaller than the fee, off the others, largest first. A transfer that comes to 0 is not made.
INSERT INTO payout_transfers (statement_id, bank_account_id, payout_date, amount)
WITH paid AS (
    SELECT statement_id, merchant_id, payout_date, transfer_fee, carried_in
    FROM payout_statements
    WHERE closing_date = :closing_date
      AND net_amount > 0
      AND NOT EXISTS (SELECT 1 FROM payout_transfers WHERE payout_transfers.statement_id = payout_statements.statement_id)
),
current_accounts AS (
    SELECT merchant_id, bank_account_id
    FROM bank_account_periods
    WHERE (valid_from IS NULL OR valid_from < :closing_end)
      AND (valid_to IS NULL OR valid_to >= :closing_end)
),
shares AS (
    SELECT paid.statement_id, payout_statement_lines.bank_account_id,
           payout_statement_lines.gross_amount - payout_statement_lines.fee AS amount
    FROM paid
    JOIN payout_statement_lines ON payout_statement_lines.statement_id = paid.statement_id
    UNION ALL
    SELECT paid.statement_id, current_accounts.bank_account_id, paid.carried_in
    FROM paid
    JOIN current_accounts ON current_accounts.merchant_id = paid.merchant_id
    WHERE paid.carried_in > 0
),
accounts AS (
    SELECT shares.statement_id, shares.bank_account_id, SUM(shares.amount) AS amount,
           MAX(CASE WHEN shares.bank_account_id = current_accounts.bank_account_id THEN 0 ELSE 1 END) AS fee_order
    FROM shares
    JOIN paid ON paid.statement_id = shares.statement_id
    JOIN current_accounts ON current_accounts.merchant_id = paid.merchant_id
    GROUP BY shares.statement_id, shares.bank_account_id
),
ordered AS (
    SELECT accounts.statement_id, accounts.bank_account_id, accounts.amount, paid.payout_date, paid.transfer_fee,
           COALESCE(SUM(accounts.amount) OVER (
               PARTITION BY accounts.statement_id
               ORDER BY accounts.fee_order, accounts.amount DESC, accounts.bank_account_id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ), 0) AS amount_before
    FROM accounts
    JOIN paid ON paid.statement_id = accounts.statement_id
),
after_fee AS (
    SELECT statement_id, bank_account_id, payout_date,
           amount - CASE WHEN transfer_fee <= amount_before THEN 0
                         WHEN transfer_fee - amount_before >= amount THEN amount
                         ELSE transfer_fee - amount_before END AS amount
    FROM ordered
)
SELECT statement_id, bank_account_id, payout_date, amount
FROM after_fee
WHERE amount > 0
