-- The slips due on the business date that cannot go out, one row per reason (kessai.transmission,
-- HOLD_REASONS): any problem of one slip's data holds that slip back and lets every other go.
-- store_name_control_character has its own statement (holds_control_characters.*.sql).
--   unknown_card_company           its card company is not in card_companies
--   merchant_without_store_names   a store name is empty (the file carries all three: the issuer
--                                  picks which to print)
--   amount_out_of_range            not a whole number of yen in 1..max_amount (SQLite may hold a
--                                  real or a text in an integer column; any text compares above)
--   card_company_file_code_invalid its card company's file code is not 1 to 8 letters or digits,
--                                  so it cannot name the file
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
UNION ALL
SELECT :business_date, p.id, 'amount_out_of_range'
FROM untransmitted_slips p
WHERE p.transmission_date <= :business_date
  AND NOT (p.amount BETWEEN 1 AND :max_amount AND p.amount = CAST(p.amount AS BIGINT))
UNION ALL
SELECT :business_date, p.id, 'card_company_file_code_invalid'
FROM untransmitted_slips p
JOIN card_companies k ON k.card_company = p.card_company
WHERE p.transmission_date <= :business_date
  AND NOT (length(k.file_code) BETWEEN 1 AND 8
           AND ltrim(upper(k.file_code), '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') = '')
