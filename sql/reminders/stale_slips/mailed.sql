-- Record the mails of this run's digests (told_digests, filled by kessai.reminders.stale_slips): each digest
-- gets its mail and what it listed. One statement, whatever the number of merchants.
UPDATE stale_slip_digests
SET mail_id = t.mail_id,
    open_slips = t.open_slips,
    open_amount = t.open_amount,
    final_notice_slips = t.final_notice_slips,
    expired_slips = t.expired_slips
FROM told_digests AS t
WHERE t.merchant_id = stale_slip_digests.merchant_id
  AND stale_slip_digests.business_date = :run_date
  AND stale_slip_digests.mail_id IS NULL
