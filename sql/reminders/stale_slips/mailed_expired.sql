-- Record on each expired slip a digest listed (told_expired, filled by kessai.reminders.stale_slips) the
-- mail that listed it: the next digest lists it no more.
UPDATE slip_reminders
SET mail_id = t.mail_id
FROM told_expired AS t
WHERE t.slip_row_id = slip_reminders.slip_row_id
  AND slip_reminders.reason = 'expired'
  AND slip_reminders.mail_id IS NULL
