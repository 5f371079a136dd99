-- A slip number at every merchant that has it (ix_slips_slip_id).
SELECT s.id, s.merchant_id, m.name AS merchant_name, s.slip_id, s.card_company, s.amount, s.payment_date,
       s.confirmed_on, s.confirmation_registered_at, s.cancelled_at, s.subscription_id, s.billing_month,
       s.transmitted_on, s.transmission_due_on, s.closing_date, s.expired_on, s.created_at
FROM slips s
JOIN merchants m ON m.merchant_id = s.merchant_id
WHERE s.slip_id = :slip_id
ORDER BY s.merchant_id
