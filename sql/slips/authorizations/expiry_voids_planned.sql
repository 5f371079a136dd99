-- The authorizations whose expiry voids plan_expiry_voids.sql just wrote now release it all.
UPDATE slip_authorizations
SET voided_amount = amount
WHERE state = 'held'
  AND amount > voided_amount
  AND EXISTS (SELECT 1 FROM slips s WHERE s.id = slip_authorizations.slip_row_id AND s.expired_on IS NOT NULL)
