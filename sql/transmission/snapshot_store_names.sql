-- The store names each batch of the business date carries, as they are now: a rebuild of the file
-- months later prints the same names even if the merchant has renamed itself since. A line break
-- typed into a name (CR or LF, bound as parameters) becomes a space: a record is one line. With
-- them, the kana and English names as the file writes them (merchant_file_names, worked out by the
-- claim) and the merchant's 加盟店番号 at the batch's card company ('' when it has none).
INSERT INTO transmission_batch_merchants
    (batch_id, merchant_id, name, name_kana, name_en, file_name_kana, file_name_en, merchant_number)
SELECT sent.transmission_batch_id,
       m.merchant_id,
       REPLACE(REPLACE(m.name, :cr, ' '), :lf, ' '),
       REPLACE(REPLACE(m.name_kana, :cr, ' '), :lf, ' '),
       REPLACE(REPLACE(m.name_en, :cr, ' '), :lf, ' '),
       f.name_kana,
       f.name_en,
       COALESCE(k.merchant_number, '')
FROM (
    SELECT DISTINCT transmission_batch_id, merchant_id, card_company
    FROM slips
    WHERE transmitted_on = :business_date AND transmission_batch_id IS NOT NULL
) sent
JOIN merchants m ON m.merchant_id = sent.merchant_id
JOIN merchant_file_names f ON f.merchant_id = sent.merchant_id
LEFT JOIN merchant_card_numbers k ON k.merchant_id = sent.merchant_id AND k.card_company = sent.card_company
