-- The data records of every batch of the business date, batch by batch, each batch in a stable
-- order: merchant, then slip number, compared byte by byte (SQLite's BINARY collation).
-- kessai.transmission cuts this stream into the batches' files by their record counts. Only the
-- last four characters of the card reference go out.
SELECT 'D',
       s.slip_id,
       s.merchant_id,
       n.name,
       n.name_kana,
       n.name_en,
       s.amount,
       s.payment_date,
       s.confirmed_on,
       CASE WHEN length(s.card_reference) >= 4
            THEN '************' || substr(s.card_reference, length(s.card_reference) - 3)
            ELSE '' END
FROM slips s
JOIN transmission_batch_merchants n
  ON n.batch_id = s.transmission_batch_id AND n.merchant_id = s.merchant_id
WHERE s.transmitted_on = :business_date
ORDER BY s.transmission_batch_id, s.merchant_id, s.slip_id
