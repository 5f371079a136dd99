-- The slips a billing month still lacks: one for every active subscription that started before
-- that month (the slip of its starting month is the first one, made by the online side).
-- The slip number is 9, the subscription's number in 11 digits, and the month as YYYYMM
-- (docs/recurring-charge.md); taken_by_slip names a slip of the merchant already holding it.
SELECT due.*, taken.id AS taken_by_slip
FROM (
    SELECT
        CAST(900000000000000000 + s.subscription_number * 1000000 + :billing_yyyymm AS TEXT) AS slip_id,
        s.merchant_id,
        s.card_company,
        s.card_reference,
        s.amount,
        s.subscription_id,
        :billing_month AS billing_month
    FROM subscriptions s
    WHERE s.status = 'active'
        AND s.started_on < :billing_month
        AND NOT EXISTS (
            SELECT 1
            FROM slips x
            WHERE x.subscription_id = s.subscription_id
                AND x.billing_month = :billing_month
        )
) due
LEFT JOIN slips taken ON taken.merchant_id = due.merchant_id AND taken.slip_id = due.slip_id
