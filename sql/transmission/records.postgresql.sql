-- The data records of every batch of the business date, batch by batch, each batch in a stable
-- order: merchant, then slip number, compared byte by byte (COLLATE "C", whatever the database's
-- collation). kessai.transmission cuts this stream into the batches' files by their record
-- counts. Dates as YYYY-MM-DD whatever the DateStyle. Only the last four characters of the card
-- reference go out.
SELECT 'D',
       s.slip_id,
       s.merchant_id,
       n.name,
       n.name_kana,
       n.name_en,
       s.amount,
       to_char(s.payment_date, 'YYYY-MM-DD'),
       to_char(s.confirmed_on, 'YYYY-MM-DD'),
       CASE WHEN length(s.card_reference) >= 4
            THEN '************' || substr(s.card_reference, length(s.card_reference) - 3)
            ELSE '' END
FROM slips s
JOIN transmission_batch_merchants n
  ON n.batch_id = s.transmission_batch_id AND n.merchant_id = s.merchant_id
WHERE s.transmitted_on = :business_date
ORDER BY s.transmission_batch_id, s.merchant_id COLLATE "C", s.slip_id COLLATE "C"
