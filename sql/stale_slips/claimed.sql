-- The slips this transaction claimed and has not mailed yet (a committed reminder always names
-- its mail): the most urgent reason first, then merchant by merchant, soonest deadline first. A
-- blank address counts as none.
SELECT r.reason,
       s.merchant_id,
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
  AND r.mail_id IS NULL
ORDER BY CASE r.reason WHEN 'expired' THEN 0 WHEN 'final_notice' THEN 1 ELSE 2 END,
         s.merchant_id, s.payment_date, length(s.slip_id), s.slip_id
