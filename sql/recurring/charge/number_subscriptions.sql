-- Number the subscriptions that have no number yet: each merchant's next numbers after its
-- highest, in the order the subscriptions were created. A number, once given, never changes:
-- it is part of every recurring slip number of the subscription.
WITH numbered AS (
    SELECT
        s.subscription_id,
        COALESCE(taken.highest, 0)
            + ROW_NUMBER() OVER (PARTITION BY s.merchant_id ORDER BY s.created_at, s.subscription_id) AS number
    FROM subscriptions s
    LEFT JOIN (
        SELECT merchant_id, MAX(subscription_number) AS highest
        FROM subscriptions
        GROUP BY merchant_id
    ) taken ON taken.merchant_id = s.merchant_id
    WHERE s.subscription_number IS NULL
)
UPDATE subscriptions
SET subscription_number = numbered.number
FROM numbered
WHERE subscriptions.subscription_id = numbered.subscription_id
