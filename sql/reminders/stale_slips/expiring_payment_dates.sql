-- The payment dates of the open slips past their confirmation deadline (a few a day; many only on
-- a first run), each to be expired with its own date.
SELECT DISTINCT payment_date
FROM slips
WHERE payment_date <= :paid_through
  AND confirmed_on IS NULL
  AND cancelled_at IS NULL
  AND expired_on IS NULL
ORDER BY payment_date
