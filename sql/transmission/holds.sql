-- The slips due on the business date that cannot go out, one row per reason (kessai.transmission):
-- a card company unknown to card_companies, or a merchant without its three store names (the file
-- carries all three: the issuer picks which to print).
INSERT INTO transmission_holds (business_date, slip_row_id, reason)
SELECT :business_date, p.id, 'unknown_card_company'
FROM untransmitted_slips p
WHERE p.transmission_date <= :business_date
  AND NOT EXISTS (SELECT 1 FROM card_companies k WHERE k.card_company = p.card_company)
UNION ALL
SELECT :business_date, p.id, 'merchant_without_store_names'
FROM untransmitted_slips p
JOIN merchants m ON m.merchant_id = p.merchant_id
WHERE p.transmission_date <= :business_date
  AND (COALESCE(TRIM(m.name), '') = '' OR COALESCE(TRIM(m.name_kana), '') = ''
       OR COALESCE(TRIM(m.name_en), '') = '')
