-- Claim this run's digests: one for each merchant whose period (its own, else the default setting)
-- has no digest yet, nor a later period, and who has something to tell as of the period's first
-- business day (as_of): an open slip stale by then (paid by paid_through), or an expired slip no
-- digest has listed (expired by then). Stating the period's first business day, whichever run of
-- the period writes it, a catch-up or a backfill gives the digest the first run would have given;
-- a merchant with nothing on that day gets nothing until the next period. The primary key
-- (merchant, period) keeps a concurrent run from claiming it twice. Each merchant costs a probe of
-- ix_slips_open_by_merchant and a look at the few expired slips no digest has listed
-- (ix_slip_reminders_untold; CROSS JOIN keeps SQLite from reading the merchant's slips instead).
INSERT INTO stale_slip_digests (merchant_id, period, as_of, paid_through, business_date)
SELECT m.merchant_id, p.period_key, p.as_of, p.paid_through, :run_date
FROM merchants AS m
JOIN (
    SELECT 'daily' AS name, :daily_key AS period_key, :daily_as_of AS as_of, :daily_paid_through AS paid_through
    UNION ALL
    SELECT 'weekly', :weekly_key, :weekly_as_of, :weekly_paid_through
    UNION ALL
    SELECT 'monthly', :monthly_key, :monthly_as_of, :monthly_paid_through
) AS p ON p.name = COALESCE(m.reminder_period, :default_period)
WHERE NOT EXISTS (
    SELECT 1 FROM stale_slip_digests AS d
    WHERE d.merchant_id = m.merchant_id AND d.as_of >= p.as_of
  )
  AND (
    EXISTS (
      SELECT 1 FROM slips AS s
      WHERE s.merchant_id = m.merchant_id
        AND s.payment_date <= p.paid_through
        AND s.confirmed_on IS NULL
        AND s.cancelled_at IS NULL
        AND s.expired_on IS NULL
    )
    OR EXISTS (
      SELECT 1 FROM slip_reminders AS r CROSS JOIN slips AS s
      WHERE r.mail_id IS NULL
        AND r.reason = 'expired'
        AND s.id = r.slip_row_id
        AND s.merchant_id = m.merchant_id
        AND s.expired_on <= p.as_of
    )
  )
ON CONFLICT (merchant_id, period) DO NOTHING
