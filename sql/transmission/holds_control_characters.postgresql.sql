-- The due slips whose merchant's store names hold a control character (U+0001-U+001F, U+007F; a
-- line break is no problem: it becomes a space in the file), held back (see holds.sql).
INSERT INTO transmission_holds (business_date, slip_row_id, reason)
SELECT :business_date, p.id, 'store_name_control_character'
FROM untransmitted_slips p
JOIN merchants m ON m.merchant_id = p.merchant_id
WHERE p.transmission_date <= :business_date
  AND REPLACE(REPLACE(COALESCE(m.name, '') || COALESCE(m.name_kana, '') || COALESCE(m.name_en, ''),
                      chr(13), ''), chr(10), '') ~ '[\x01-\x1f\x7f]'
