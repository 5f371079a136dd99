-- What each paid statement of C transfers to each bank account (docs/payout-closing.md,
-- "Two bank accounts"): every account gets the gross less fee of its lines; the carried-in balance
-- and the adjustments (signed: a debt carried in, a chargeback) go to the merchant's current
-- account (the one in effect when the closing date ends, the end of C), and so do the lines of an
-- account a transfer came back from (振込不能・組戻し: nothing is paid to it again). What is owed
-- (the transfer fee, and what the current account's share comes to below 0) comes off the current
-- account's transfer first and, where that is smaller, off the others, largest first. A transfer
-- that comes to 0 is not made; the transfers of a statement add up to its net, never below 0.
INSERT INTO payout_transfers (statement_id, bank_account_id, payout_date, amount)
WITH paid AS (
    SELECT statement_id, merchant_id, payout_date, transfer_fee, carried_in + adjustment_amount AS to_current
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
returned_accounts AS (
    SELECT DISTINCT bank_account_id FROM payout_transfer_returns WHERE registered_at < :closing_end
),
shares AS (
    SELECT paid.statement_id,
           CASE WHEN returned_accounts.bank_account_id IS NULL THEN payout_statement_lines.bank_account_id
                ELSE current_accounts.bank_account_id END AS bank_account_id,
           payout_statement_lines.gross_amount - payout_statement_lines.fee AS amount
    FROM paid
    JOIN payout_statement_lines ON payout_statement_lines.statement_id = paid.statement_id
    JOIN current_accounts ON current_accounts.merchant_id = paid.merchant_id
    LEFT JOIN returned_accounts ON returned_accounts.bank_account_id = payout_statement_lines.bank_account_id
    UNION ALL
    SELECT paid.statement_id, current_accounts.bank_account_id, paid.to_current
    FROM paid
    JOIN current_accounts ON current_accounts.merchant_id = paid.merchant_id
    WHERE paid.to_current <> 0
),
accounts AS (
    SELECT shares.statement_id, shares.bank_account_id, SUM(shares.amount) AS amount,
           MAX(CASE WHEN shares.bank_account_id = current_accounts.bank_account_id THEN 0 ELSE 1 END) AS fee_order
    FROM shares
    JOIN paid ON paid.statement_id = shares.statement_id
    JOIN current_accounts ON current_accounts.merchant_id = paid.merchant_id
    GROUP BY shares.statement_id, shares.bank_account_id
),
owed AS (
    SELECT accounts.statement_id,
           paid.transfer_fee + SUM(CASE WHEN accounts.amount < 0 THEN -accounts.amount ELSE 0 END) AS amount
    FROM accounts
    JOIN paid ON paid.statement_id = accounts.statement_id
    GROUP BY accounts.statement_id, paid.transfer_fee
),
ordered AS (
    SELECT accounts.statement_id, accounts.bank_account_id, accounts.amount, paid.payout_date,
           owed.amount AS owed,
           COALESCE(SUM(accounts.amount) OVER (
               PARTITION BY accounts.statement_id
               ORDER BY accounts.fee_order, accounts.amount DESC, accounts.bank_account_id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ), 0) AS amount_before
    FROM accounts
    JOIN paid ON paid.statement_id = accounts.statement_id
    JOIN owed ON owed.statement_id = accounts.statement_id
    WHERE accounts.amount > 0
),
after_owed AS (
    SELECT statement_id, bank_account_id, payout_date,
           amount - CASE WHEN owed <= amount_before THEN 0
                         WHEN owed - amount_before >= amount THEN amount
                         ELSE owed - amount_before END AS amount
    FROM ordered
)
SELECT statement_id, bank_account_id, payout_date, amount
FROM after_owed
WHERE amount > 0
