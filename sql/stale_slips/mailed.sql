-- Record the mails that told this run's claims of one reason: each reminder gets the mail of its
-- slip's merchant (told_mails, filled by kessai.stale_slips). One pass over the claims, whatever
-- the number of merchants.
UPDATE slip_reminders
SET mail_id = (
    SELECT t.mail_id
    FROM slips AS s
    JOIN told_mails AS t ON t.merchant_id = s.merchant_id
    WHERE s.id = slip_reminders.slip_row_id
)
WHERE business_date = :run_date
  AND reason = :reason
  AND mail_id IS NULL
