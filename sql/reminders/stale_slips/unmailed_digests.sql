-- A digest this run claimed and found nothing to list in after all (its slips changed in between
-- on PostgreSQL) is let go: a committed digest always names its mail.
DELETE FROM stale_slip_digests
WHERE business_date = :run_date
  AND mail_id IS NULL
