-- The cycle's totals as it closes: the slips its charge paid (a succeeded attempt; the online
-- side's first slips of the month are not the batch's) and the failed ones (payment date empty).
SELECT
    COUNT(*) AS slip_count,
    COALESCE(SUM(CASE WHEN s.payment_date IS NOT NULL THEN 1 ELSE 0 END), 0) AS paid_count,
    COALESCE(SUM(CASE WHEN s.payment_date IS NOT NULL THEN s.amount ELSE 0 END), 0) AS paid_amount,
    COALESCE(SUM(CASE WHEN s.payment_date IS NULL THEN 1 ELSE 0 END), 0) AS failed_count,
    COALESCE(SUM(CASE WHEN s.payment_date IS NULL THEN s.amount ELSE 0 END), 0) AS failed_amount
FROM slips s
WHERE s.billing_month = :billing_month
    AND s.subscription_id IS NOT NULL
    AND s.cancelled_at IS NULL
    AND (
        s.payment_date IS NULL
        OR EXISTS (
            SELECT 1
            FROM charge_attempts a
            WHERE a.slip_row_id = s.id
                AND a.outcome = 'succeeded'
        )
    )
