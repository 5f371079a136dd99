-- Statements of C issued by an earlier run that the slips no longer give (a field or
-- a line differs, or the statement is not computed at all). A re-run never changes an issued
-- statement: it reports these.
WITH stored_lines AS (
    SELECT payout_statements.merchant_id, payout_statement_lines.card_company,
           payout_statement_lines.bank_account_id, payout_statement_lines.slip_count,
           payout_statement_lines.gross_amount, payout_statement_lines.fee,
           payout_statement_lines.held_back_count, payout_statement_lines.held_back_amount
    FROM payout_statement_lines
    JOIN payout_statements ON payout_statements.statement_id = payout_statement_lines.statement_id
    WHERE payout_statements.closing_date = :closing_date
),
computed_lines AS (
    SELECT merchant_id, card_company, bank_account_id, slip_count, gross_amount, fee,
           held_back_count, held_back_amount
    FROM closing_lines
),
line_differences AS (
    SELECT merchant_id FROM (SELECT * FROM stored_lines EXCEPT SELECT * FROM computed_lines) AS stored_only
    UNION
    SELECT merchant_id FROM (SELECT * FROM computed_lines EXCEPT SELECT * FROM stored_lines) AS computed_only
)
SELECT stored.merchant_id,
       stored.slip_count, stored.gross_amount, stored.net_amount, stored.carried_forward,
       computed.slip_count AS computed_slip_count, computed.gross_amount AS computed_gross_amount,
       computed.net_amount AS computed_net_amount, computed.carried_forward AS computed_carried_forward
FROM payout_statements AS stored
LEFT JOIN closing_statements AS computed ON computed.merchant_id = stored.merchant_id
WHERE stored.closing_date = :closing_date
  AND (computed.merchant_id IS NULL
       OR computed.payout_date <> stored.payout_date
       OR computed.slip_count <> stored.slip_count
       OR computed.gross_amount <> stored.gross_amount
       OR computed.fee <> stored.fee
       OR computed.transfer_fee <> stored.transfer_fee
       OR computed.net_amount <> stored.net_amount
       OR computed.carried_in <> stored.carried_in
       OR computed.carried_forward <> stored.carried_forward
       OR computed.adjustment_amount <> stored.adjustment_amount
       OR stored.merchant_id IN (SELECT merchant_id FROM line_differences))
ORDER BY stored.merchant_id
