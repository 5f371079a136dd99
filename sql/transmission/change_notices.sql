-- The store-change notices of the business date (kessai.transmission.change_notices): each merchant
-- whose names now differ from those its last batch to a card company before the business date
-- carried gets one notice to that company, effective on the business date, unless that company
-- was already told these names (merchant_change_notices is unique on merchant, company and the
-- names' hash: once per change). Names that cannot be made valid (merchant_file_names' problems,
-- the merchant's slips are held) wait until they can. A line break compares as the snapshot
-- keeps it, a space (CR and LF bound as parameters).
INSERT INTO merchant_change_notices
    (merchant_id, card_company, names_sha256, effective_on, name, name_kana, name_en, merchant_number)
SELECT m.merchant_id, last_sent.card_company, f.names_sha256, :business_date,
       REPLACE(REPLACE(m.name, :cr, ' '), :lf, ' '), f.name_kana, f.name_en, COALESCE(k.merchant_number, '')
FROM (
    SELECT n.merchant_id, b.card_company, MAX(b.business_date) AS business_date
    FROM transmission_batch_merchants n
    JOIN transmission_batches b ON b.batch_id = n.batch_id
    WHERE b.business_date < :business_date
    GROUP BY n.merchant_id, b.card_company
) last_sent
JOIN transmission_batches b
  ON b.card_company = last_sent.card_company AND b.business_date = last_sent.business_date
JOIN transmission_batch_merchants n ON n.batch_id = b.batch_id AND n.merchant_id = last_sent.merchant_id
JOIN merchants m ON m.merchant_id = last_sent.merchant_id
JOIN merchant_file_names f ON f.merchant_id = m.merchant_id
LEFT JOIN merchant_card_numbers k ON k.merchant_id = m.merchant_id AND k.card_company = last_sent.card_company
WHERE f.name_kana IS NOT NULL AND f.name_en IS NOT NULL
  AND f.kana_problem IS NULL AND f.en_problem IS NULL AND COALESCE(TRIM(m.name), '') <> ''
  AND (n.name <> REPLACE(REPLACE(m.name, :cr, ' '), :lf, ' ')
       OR n.name_kana <> REPLACE(REPLACE(m.name_kana, :cr, ' '), :lf, ' ')
       OR n.name_en <> REPLACE(REPLACE(m.name_en, :cr, ' '), :lf, ' '))
  AND NOT EXISTS (SELECT 1 FROM merchant_change_notices c
                  WHERE c.merchant_id = m.merchant_id AND c.card_company = last_sent.card_company
                    AND c.names_sha256 = f.names_sha256)
