-- Record the mail that told one merchant this run's claims of one reason.
UPDATE slip_reminders
SET mail_id = :mail_id
WHERE business_date = :run_date
  AND reason = :reason
  AND mail_id IS NULL
  AND EXISTS (
    SELECT 1 FROM slips AS s
    WHERE s.id = slip_reminders.slip_row_id AND s.merchant_id = :merchant_id
  )
