-- The store names each batch of the business date carries, as they are now: a rebuild of the file
-- months later prints the same names even if the merchant has renamed itself since. A line break
-- typed into a name (CR or LF, bound as parameters) becomes a space: a record is one line.
INSERT INTO transmission_batch_merchants (batch_id, merchant_id, name, name_kana, name_en)
SELECT sent.transmission_batch_id,
       m.merchant_id,
       REPLACE(REPLACE(m.name, :cr, ' '), :lf, ' '),
       REPLACE(REPLACE(m.name_kana, :cr, ' '), :lf, ' '),
       REPLACE(REPLACE(m.name_en, :cr, ' '), :lf, ' ')
FROM (
    SELECT DISTINCT transmission_batch_id, merchant_id
    FROM slips
    WHERE transmitted_on = :business_date AND transmission_batch_id IS NOT NULL
) sent
JOIN merchants m ON m.merchant_id = sent.merchant_id
