-- The cycle's failed slips, by merchant and slip number. The FAQ's rule: after the charge, a slip
-- of the billing month whose payment date is still empty has failed (決済処理後に入金日に日付が
-- 入っていない伝票は、決済処理に失敗しています). Read only once every slip has a final outcome:
-- failure_reason is the decline's reason, or why the slip was not charged (its subscription
-- stopped); a gateway fault (not_executed) is never a reason.
SELECT
    s.id AS slip_row_id,
    s.slip_id,
    s.merchant_id,
    m.name AS merchant_name,
    m.email AS merchant_email,
    m.repayment_mail_enabled,
    m.repayment_url_template,
    m.repayment_instructions,
    s.subscription_id,
    sub.customer_email,
    sub.status AS subscription_status,
    s.amount,
    COALESCE(cc.name, s.card_company) AS card_company_name,
    s.card_reference,
    COALESCE(last.attempt_number, 0) AS attempts,
    COALESCE(last.outcome, 'not_charged') AS last_outcome,
    CASE
        WHEN last.attempt_id IS NOT NULL THEN COALESCE(last.reason, last.outcome)
        WHEN sub.status = 'stopped' THEN 'subscription_stopped'
        ELSE 'not_charged'
    END AS failure_reason
FROM slips s
JOIN merchants m ON m.merchant_id = s.merchant_id
JOIN subscriptions sub ON sub.subscription_id = s.subscription_id
LEFT JOIN card_companies cc ON cc.card_company = s.card_company
-- The slip's final attempt (a declined or refused card); a slip has at most one.
LEFT JOIN charge_attempts last
    ON last.slip_row_id = s.id
    AND last.outcome IN ('declined', 'error')
WHERE s.billing_month = :billing_month
    AND s.payment_date IS NULL
    AND s.cancelled_at IS NULL
ORDER BY s.merchant_id, s.slip_id
