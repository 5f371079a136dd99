-- The mails one run's reminders went in, with their delivery state and whom they were about.
SELECT o.mail_id,
       o.kind,
       o.recipient,
       o.sent_at,
       o.gave_up_at,
       o.last_error,
       s.merchant_id,
       r.reason,
       COUNT(*) AS slip_count
FROM slip_reminders AS r
JOIN mail_outbox AS o ON o.mail_id = r.mail_id
JOIN slips AS s ON s.id = r.slip_row_id
WHERE r.business_date = :run_date
GROUP BY o.mail_id, o.kind, o.recipient, o.sent_at, o.gave_up_at, o.last_error, s.merchant_id, r.reason
ORDER BY o.mail_id
