-- Record the mails that told this run's claims: each reminder gets the mail of its slip's
-- merchant and its reason (told_mails, filled by kessai.stale_slips). One pass over the claims,
-- whatever the number of merchants.
UPDATE slip_reminders
SET mail_id = (
    SELECT t.mail_id
    FROM slips AS s
    JOIN told_mails AS t ON t.merchant_id = s.merchant_id AND t.reason = slip_reminders.reason
    WHERE s.id = slip_reminders.slip_row_id
)
WHERE business_date = :run_date
  AND mail_id IS NULL
