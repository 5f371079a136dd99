-- One 'expired' event per open slip of one payment date, written before expire.sql closes them.
INSERT INTO slip_events (slip_row_id, event, business_date, detail)
SELECT id, 'expired', :run_date, :detail
FROM slips
WHERE payment_date = :payment_date
  AND confirmed_on IS NULL
  AND cancelled_at IS NULL
  AND expired_on IS NULL
