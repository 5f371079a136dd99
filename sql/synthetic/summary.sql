-- What the business database holds, by the kinds of rows the synthetic data generator makes.
SELECT
    (SELECT COUNT(*) FROM merchants) AS merchants,
    (SELECT COUNT(*) FROM merchants WHERE payout_cycle = 'twice_monthly') AS twice_monthly_merchants,
    (SELECT COUNT(*) FROM merchants WHERE email IS NULL) AS merchants_without_email,
    (SELECT COUNT(*) FROM merchants WHERE name_kana IS NULL OR name_en IS NULL) AS merchants_without_store_names,
    (SELECT COUNT(*) FROM bank_accounts) AS bank_accounts,
    (SELECT COUNT(*) FROM subscriptions) AS subscriptions,
    (SELECT COUNT(*) FROM subscriptions WHERE status = 'stopped') AS stopped_subscriptions,
    COUNT(*) AS slips,
    SUM(CASE WHEN subscription_id IS NOT NULL THEN 1 ELSE 0 END) AS first_subscription_slips,
    SUM(CASE WHEN confirmed_on IS NOT NULL THEN 1 ELSE 0 END) AS confirmed,
    SUM(CASE WHEN confirmed_on < registered_on THEN 1 ELSE 0 END) AS backdated,
    SUM(CASE WHEN confirmed_on > registered_on THEN 1 ELSE 0 END) AS future_dated,
    SUM(CASE WHEN confirmed_on IS NULL AND cancelled_at IS NULL THEN 1 ELSE 0 END) AS unconfirmed,
    SUM(CASE WHEN cancelled_at IS NOT NULL THEN 1 ELSE 0 END) AS cancelled,
    SUM(CASE WHEN card_company NOT IN (SELECT card_company FROM card_companies) THEN 1 ELSE 0 END)
        AS unknown_card_company,
    COALESCE(SUM(amount), 0) AS amount_total
FROM dated_slips
