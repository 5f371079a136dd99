-- Claim every open slip paid on or before the stale cutoff for the most advanced reason it has
-- reached (paid by the expired cutoff: expired; by the final-notice cutoff: final_notice; else
-- stale) unless it has been told that reason or a later one: the first run that sees a slip due
-- claims it, so a re-run, a backfill of an earlier day, or a concurrent run claims nothing twice.
-- One pass over a range of the partial index ix_slips_unconfirmed_by_payment_date (the cutoffs
-- only grow from expired to final notice to stale); the index holds the row id, so the slips
-- themselves are not read.
INSERT INTO slip_reminders (slip_row_id, reason, business_date)
SELECT s.id,
       CASE WHEN s.payment_date <= :expired THEN 'expired'
            WHEN s.payment_date <= :final_notice THEN 'final_notice'
            ELSE 'stale' END,
       :run_date
FROM slips AS s
WHERE s.payment_date <= :stale
  AND s.confirmed_on IS NULL
  AND s.cancelled_at IS NULL
  AND s.expired_on IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM slip_reminders AS r
    WHERE r.slip_row_id = s.id
      AND (r.reason = 'expired'
           OR (r.reason = 'final_notice' AND s.payment_date > :expired)
           OR (r.reason = 'stale' AND s.payment_date > :final_notice))
  )
ON CONFLICT (slip_row_id, reason) DO NOTHING
