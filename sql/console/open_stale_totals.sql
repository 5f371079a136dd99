SELECT COUNT(*) AS slip_count, SUM(CAST(amount AS BIGINT)) AS amount
FROM slips
WHERE merchant_id = :merchant_id AND payment_date <= :paid_through
  AND confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL
