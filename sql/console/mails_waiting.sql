-- The mails that failed to send and wait for another try (deferred, ix_mail_outbox_unsent) or
-- that delivery gave up on (ix_mail_outbox_gave_up), by kind.
SELECT 'deferred' AS state, kind, COUNT(*) AS mails, MIN(next_attempt_at) AS next_attempt_at, MAX(last_error) AS last_error
FROM mail_outbox
WHERE sent_at IS NULL AND gave_up_at IS NULL AND attempts > 0
GROUP BY kind
UNION ALL
SELECT 'gave_up' AS state, kind, COUNT(*) AS mails, NULL AS next_attempt_at, MAX(last_error) AS last_error
FROM mail_outbox
WHERE gave_up_at IS NOT NULL
GROUP BY kind
ORDER BY state, kind
