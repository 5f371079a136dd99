-- The data records of every batch (their fields: docs/transmission-file.md) of the business date, batch by batch, each batch in a stable
-- order: merchant, then slip number, compared byte by byte (COLLATE "C", whatever the database's
-- collation). kessai.transmission cuts this stream into the batches' files by their record
-- counts. Dates as YYYY-MM-DD whatever the DateStyle. Only the last four characters of the card
-- reference go out.
SELECT 'D',
       s.slip_id,
       s.merchant_id,
       n.name,
       COALESCE(n.file_name_kana, n.name_kana),
       COALESCE(n.file_name_en, n.name_en),
       s.amount,
       to_char(s.payment_date, 'YYYY-MM-DD'),
       to_char(s.confirmed_on, 'YYYY-MM-DD'),
       CASE WHEN length(s.card_reference) >= 4
            THEN '************' || substr(s.card_reference, length(s.card_reference) - 3)
            ELSE '' END,
       COALESCE(n.merchant_number, ''),
       '',  -- 承認番号: not kept by the batch yet
       '',  -- transaction id: not kept by the batch yet
       CASE s.payment_kind WHEN 'lump_sum' THEN '10' WHEN 'installments' THEN '61'
                           WHEN 'revolving' THEN '80' WHEN 'bonus' THEN '21' END,
       COALESCE(CAST(s.installments AS TEXT), '')
FROM slips s
JOIN transmission_batch_merchants n
  ON n.batch_id = s.transmission_batch_id AND n.merchant_id = s.merchant_id
WHERE s.transmitted_on = :business_date
ORDER BY s.transmission_batch_id, s.merchant_id COLLATE "C", s.slip_id COLLATE "C"
