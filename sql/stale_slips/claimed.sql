-- The slips this transaction claimed for one reason and has not mailed yet (a committed reminder
-- always names its mail), merchant by merchant, soonest deadline first. A blank address counts
-- as none.
SELECT s.merchant_id,
       m.name AS merchant_name,
       NULLIF(TRIM(m.email), '') AS email,
       s.id AS slip_row_id,
       s.slip_id,
       s.amount,
       s.payment_date
FROM slip_reminders AS r
JOIN slips AS s ON s.id = r.slip_row_id
JOIN merchants AS m ON m.merchant_id = s.merchant_id
WHERE r.business_date = :run_date
  AND r.reason = :reason
  AND r.mail_id IS NULL
ORDER BY s.merchant_id, s.payment_date, length(s.slip_id), s.slip_id
