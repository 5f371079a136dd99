-- What this transaction's digests list (a committed digest always names its mail): per merchant,
-- its open slips stale as of the digest's day (part 0), then its expired slips no digest has
-- listed, expired by that day (part 1); soonest deadline first (same payment date: by slip number
-- as a number). A blank address counts as none. The open slips come from a range of the partial
-- index ix_slips_open_by_merchant per digest (CROSS JOIN keeps that order on SQLite); the expired
-- ones, a few, are read first from ix_slip_reminders_untold (MATERIALIZED: PostgreSQL, its
-- statistics not knowing the run's new digests, would otherwise read every slip of each merchant).
WITH untold AS MATERIALIZED (
    SELECT s.merchant_id, s.id, s.slip_id, s.amount, s.payment_date, s.expired_on
    FROM slip_reminders AS r
    JOIN slips AS s ON s.id = r.slip_row_id
    WHERE r.mail_id IS NULL
      AND r.reason = 'expired'
)
SELECT *
FROM (
    SELECT d.merchant_id, m.name AS merchant_name, NULLIF(TRIM(m.email), '') AS email,
           COALESCE(m.reminder_period, :default_period) AS period_name, d.period, d.as_of,
           0 AS part, s.id AS slip_row_id, s.slip_id, s.amount, s.payment_date
    FROM stale_slip_digests AS d
    CROSS JOIN slips AS s
    CROSS JOIN merchants AS m
    WHERE d.business_date = :run_date
      AND d.mail_id IS NULL
      AND s.merchant_id = d.merchant_id
      AND s.payment_date <= d.paid_through
      AND s.confirmed_on IS NULL
      AND s.cancelled_at IS NULL
      AND s.expired_on IS NULL
      AND m.merchant_id = d.merchant_id
    UNION ALL
    SELECT d.merchant_id, m.name, NULLIF(TRIM(m.email), ''),
           COALESCE(m.reminder_period, :default_period), d.period, d.as_of,
           1, u.id, u.slip_id, u.amount, u.payment_date
    FROM untold AS u
    JOIN stale_slip_digests AS d ON d.merchant_id = u.merchant_id
    JOIN merchants AS m ON m.merchant_id = d.merchant_id
    WHERE d.business_date = :run_date
      AND d.mail_id IS NULL
      AND u.expired_on <= d.as_of
) AS listed
ORDER BY merchant_id, part, payment_date, length(slip_id), slip_id
