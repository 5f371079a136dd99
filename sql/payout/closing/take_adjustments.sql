-- The adjustments the statements of C took (closing_statements.sql, "adjusted"): marked with C, so
-- no later closing takes them again and a re-run of C finds them by it.
UPDATE payout_adjustments
SET closing_date = :closing_date
WHERE closing_date IS NULL
  AND effective_on <= :closing_date
  AND merchant_id IN (SELECT merchant_id FROM payout_statements WHERE closing_date = :closing_date)
