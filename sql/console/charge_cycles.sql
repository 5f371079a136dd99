-- The billing months whose charge ran on day and is over: paid and failed (the FAQ's failure:
-- payment date still empty after the charge).
SELECT billing_month, charge_date, slip_count, paid_count, paid_amount, failed_count, failed_amount
FROM recurring_charge_cycles
WHERE charge_date = :day
ORDER BY billing_month
