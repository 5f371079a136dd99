-- The statements of C not issued yet (the first run issues them all; a re-run only
-- those an earlier run could not, after the statement_differences check found the others equal).
INSERT INTO payout_statements (
    merchant_id, closing_date, payout_date, slip_count, gross_amount, fee, transfer_fee, net_amount,
    carried_in, carried_forward, adjustment_amount
)
SELECT merchant_id, :closing_date, payout_date, slip_count, gross_amount, fee, transfer_fee, net_amount,
       carried_in, carried_forward, adjustment_amount
FROM closing_statements
WHERE NOT EXISTS (
    SELECT 1 FROM payout_statements
    WHERE payout_statements.merchant_id = closing_statements.merchant_id
      AND payout_statements.closing_date = :closing_date
)
