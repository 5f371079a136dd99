-- What this transaction's digests list (a committed digest always names its mail): per merchant,
-- its open slips stale as of the digest's day (part 0), then its expired slips no digest has
-- listed, expired by that day (part 1); soonest deadline first (same payment date: by slip number
-- as a number). A blank address counts as none.
SELECT *
FROM (
    SELECT d.merchant_id, m.name AS merchant_name, NULLIF(TRIM(m.email), '') AS email,
           COALESCE(m.reminder_period, :default_period) AS period_name, d.period, d.as_of,
           0 AS part, s.id AS slip_row_id, s.slip_id, s.amount, s.payment_date
    FROM stale_slip_digests AS d
    JOIN merchants AS m ON m.merchant_id = d.merchant_id
    JOIN slips AS s ON s.merchant_id = d.merchant_id
    WHERE d.business_date = :run_date
      AND d.mail_id IS NULL
      AND s.payment_date <= d.paid_through
      AND s.confirmed_on IS NULL
      AND s.cancelled_at IS NULL
      AND s.expired_on IS NULL
    UNION ALL
    SELECT d.merchant_id, m.name, NULLIF(TRIM(m.email), ''),
           COALESCE(m.reminder_period, :default_period), d.period, d.as_of,
           1, s.id, s.slip_id, s.amount, s.payment_date
    FROM stale_slip_digests AS d
    JOIN merchants AS m ON m.merchant_id = d.merchant_id
    JOIN slips AS s ON s.merchant_id = d.merchant_id
    JOIN slip_reminders AS r ON r.slip_row_id = s.id
    WHERE d.business_date = :run_date
      AND d.mail_id IS NULL
      AND r.reason = 'expired'
      AND r.mail_id IS NULL
      AND s.expired_on <= d.as_of
) AS listed
ORDER BY merchant_id, part, payment_date, length(slip_id), slip_id
