-- Mark every slip going out on the business date with that date (its 利用日), its batch and the
-- date it was due: the same selection as open_batches.sql, in one statement.
UPDATE slips
SET transmitted_on = :business_date,
    transmission_batch_id = b.batch_id,
    transmission_due_on = p.transmission_date
FROM untransmitted_slips p
JOIN transmission_batches b
  ON b.business_date = :business_date AND b.card_company = p.card_company
WHERE slips.id = p.id
  AND p.transmission_date <= :business_date
  AND NOT EXISTS (SELECT 1 FROM transmission_holds h
                  WHERE h.business_date = :business_date AND h.slip_row_id = p.id)
