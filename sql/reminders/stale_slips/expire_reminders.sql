-- One 'expired' reminder per open slip of one payment date, written before expire.sql closes them,
-- without a mail: the merchant's next digest lists it (digest_slips.sql) and names its mail here.
INSERT INTO slip_reminders (slip_row_id, reason, business_date)
SELECT id, 'expired', :run_date
FROM slips
WHERE payment_date = :payment_date
  AND confirmed_on IS NULL
  AND cancelled_at IS NULL
  AND expired_on IS NULL
ON CONFLICT (slip_row_id, reason) DO NOTHING
