-- The billing month's next slips to charge, in slip row order after the previous batch: unpaid,
-- not cancelled, their subscription active, and either never charged or charged only by attempts
-- the gateway confirmed it never executed (not_executed: a fault, charged again). A slip with a
-- pending or unknown attempt waits for its lookup; one that succeeded or was declined is done.
SELECT
    s.id AS slip_row_id,
    s.slip_id,
    s.merchant_id,
    s.amount,
    sub.card_token,
    (SELECT COUNT(*) FROM charge_attempts a WHERE a.slip_row_id = s.id) AS attempts
FROM slips s
JOIN subscriptions sub ON sub.subscription_id = s.subscription_id
WHERE s.billing_month = :billing_month
    AND s.id > :after_id
    AND s.payment_date IS NULL
    AND s.cancelled_at IS NULL
    AND sub.status = 'active'
    AND NOT EXISTS (
        SELECT 1
        FROM charge_attempts a
        WHERE a.slip_row_id = s.id
            AND a.outcome <> 'not_executed'
    )
ORDER BY s.id
LIMIT :batch_size
