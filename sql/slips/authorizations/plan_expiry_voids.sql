-- A full void of what each held authorization of an expired slip still holds, with its own
-- idempotency key (void-<authorization>-<n>). Runs in the expiry's transaction; a re-run finds
-- the authorizations no longer holding anything (voided_amount = amount) and plans nothing.
INSERT INTO authorization_voids (authorization_id, sequence, amount, purpose, idempotency_key, business_date)
SELECT a.authorization_id,
       numbered.next_sequence,
       a.amount - a.voided_amount,
       'expiry',
       'void-' || a.authorization_id || '-' || numbered.next_sequence,
       :run_date
FROM slip_authorizations a
JOIN slips s ON s.id = a.slip_row_id
JOIN (
    SELECT h.authorization_id,
           (SELECT count(*) FROM authorization_voids v WHERE v.authorization_id = h.authorization_id) + 1
               AS next_sequence
    FROM slip_authorizations h
    WHERE h.state = 'held'
) numbered ON numbered.authorization_id = a.authorization_id
WHERE a.state = 'held'
  AND a.amount > a.voided_amount
  AND s.expired_on IS NOT NULL
