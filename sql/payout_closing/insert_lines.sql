-- The lines behind the statements of C, those not stored yet.
INSERT INTO payout_statement_lines (statement_id, card_company, bank_account_id, slip_count, gross_amount, fee)
SELECT payout_statements.statement_id, closing_lines.card_company, closing_lines.bank_account_id,
       closing_lines.slip_count, closing_lines.gross_amount, closing_lines.fee
FROM closing_lines
JOIN payout_statements
  ON payout_statements.merchant_id = closing_lines.merchant_id
 AND payout_statements.closing_date = :closing_date
WHERE NOT EXISTS (
    SELECT 1 FROM payout_statement_lines AS stored
    WHERE stored.statement_id = payout_statements.statement_id
      AND stored.card_company = closing_lines.card_company
      AND stored.bank_account_id = closing_lines.bank_account_id
)
