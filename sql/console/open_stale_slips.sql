-- A merchant's open stale slips: paid on or before paid_through, unconfirmed, uncancelled, not
-- expired (one range of ix_slips_open_by_merchant), oldest first.
SELECT id, slip_id, card_company, amount, payment_date
FROM slips
WHERE merchant_id = :merchant_id AND payment_date <= :paid_through
  AND confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL
ORDER BY payment_date, slip_id
LIMIT :limit
