-- The lines behind the statements of C, those not stored yet: the primary key (statement, card
-- company, account) turns the others away. (A NOT EXISTS against this same table had the planner,
-- which thinks it empty before the first closing, scan its new pages again for every line.)
INSERT INTO payout_statement_lines (
    statement_id, card_company, bank_account_id, slip_count, gross_amount, fee, held_back_count, held_back_amount
)
SELECT payout_statements.statement_id, closing_lines.card_company, closing_lines.bank_account_id,
       closing_lines.slip_count, closing_lines.gross_amount, closing_lines.fee,
       closing_lines.held_back_count, closing_lines.held_back_amount
FROM closing_lines
JOIN payout_statements
  ON payout_statements.merchant_id = closing_lines.merchant_id
 AND payout_statements.closing_date = :closing_date
WHERE TRUE  -- SQLite reads ON CONFLICT after a join's ON only past a WHERE
ON CONFLICT (statement_id, card_company, bank_account_id) DO NOTHING
