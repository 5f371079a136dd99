-- Claim for one reason every open slip paid on or before the reason's cutoff that has not been
-- told this reason or a later one: the first run that sees a slip due claims it, so a
-- re-run, a backfill of an earlier day, or a concurrent run claims nothing twice. The range on
-- payment_date with the open-slip conditions is the partial index ix_slips_unconfirmed_by_payment_date.
INSERT INTO slip_reminders (slip_row_id, reason, business_date)
SELECT s.id, :reason, :run_date
FROM slips AS s
WHERE s.payment_date <= :paid_through
  AND s.confirmed_on IS NULL
  AND s.cancelled_at IS NULL
  AND s.expired_on IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM slip_reminders AS r
    WHERE r.slip_row_id = s.id AND r.reason IN :superseding
  )
ON CONFLICT (slip_row_id, reason) DO NOTHING
