-- Mark every slip going out on the business date with that date (its 利用日), its batch and the
-- date it was due: the same selection as open_batches.sql, in one statement (the view
-- untransmitted_slips written out over slips itself, as in mark.postgresql.sql).
UPDATE slips
SET transmitted_on = :business_date,
    transmission_batch_id = b.batch_id,
    transmission_due_on = c.next_business_day
FROM business_calendar c, transmission_batches b
WHERE c.day = MAX(date(slips.confirmation_registered_at, '+9 hours'), slips.confirmed_on)
  AND c.next_business_day <= :business_date
  AND b.business_date = :business_date
  AND b.card_company = slips.card_company
  AND slips.confirmed_on IS NOT NULL
  AND slips.cancelled_at IS NULL
  AND slips.transmitted_on IS NULL
  AND NOT EXISTS (SELECT 1 FROM transmission_holds h
                  WHERE h.business_date = :business_date AND h.slip_row_id = slips.id)
