-- The digests one run wrote, with their mails' delivery state.
SELECT o.mail_id,
       o.kind,
       o.recipient,
       o.sent_at,
       o.gave_up_at,
       o.last_error,
       d.merchant_id,
       d.period,
       d.open_slips + d.expired_slips AS slip_count
FROM stale_slip_digests AS d
JOIN mail_outbox AS o ON o.mail_id = d.mail_id
WHERE d.business_date = :run_date
ORDER BY o.mail_id
