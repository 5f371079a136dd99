-- The slips due on the business date that cannot go out, one row per reason (kessai.transmission.daily,
-- HOLD_REASONS): any problem of one slip's data holds that slip back and lets every other go.
--   unknown_card_company           its card company is not in card_companies
--   card_company_file_code_invalid its card company's file code is not 1 to 8 ASCII letters or
--                                  digits, so it cannot name the file
--   merchant_without_store_names   a store name is empty (the file carries all three: the issuer
--                                  picks which to print)
--   store_name_control_character   a store name holds a control character; a line break is no
--                                  problem: it becomes a space in the file
--   merchant_id_control_character  the merchant id holds a control character: a record is one line
--   store_name_kana_invalid        the kana name cannot be made half-width JIS X 0201 katakana
--   store_name_en_invalid          the English name cannot be made upper-case ASCII
--                                  (both worked out per merchant in merchant_file_names)
--   store_name_too_long            a name as the file writes it is longer than its card
--                                  company's limit (card_companies.name_*_max_length)
--   merchant_without_card_number   its card company requires a 加盟店番号 and the merchant has
--                                  none for it (merchant_card_numbers)
--   payment_kind_invalid           its 支払区分 is none the file knows, or its number of
--                                  installments does not fit it (2..99 for installments, else none)
--   amount_out_of_range            not a whole number of yen in 1..max_amount
-- The merchants' and card companies' problems are found on those small tables; the unsent slips
-- are read once, and only the bad ones are dated, kept and split by reason.
-- holds.postgresql.sql is the same statement but for the control characters' test (GLOB stops at
-- a NUL, which instr finds) and the amount (SQLite may keep a real or a text in an integer column;
-- any text compares above every number).
INSERT INTO transmission_holds (business_date, slip_row_id, reason)
WITH merchant_problems AS (
    SELECT merchant_id,
           (COALESCE(TRIM(name), '') = '' OR COALESCE(TRIM(name_kana), '') = ''
            OR COALESCE(TRIM(name_en), '') = '') AS without_names,
           (REPLACE(REPLACE(COALESCE(name, '') || COALESCE(name_kana, '') || COALESCE(name_en, ''),
                            char(13), ''), char(10), '')
                GLOB '*[' || char(1) || '-' || char(31) || char(127) || ']*'
            OR instr(COALESCE(name, '') || COALESCE(name_kana, '') || COALESCE(name_en, ''), char(0)) > 0)
           AS control_character,
           (merchant_id GLOB '*[' || char(1) || '-' || char(31) || char(127) || ']*'
            OR instr(merchant_id, char(0)) > 0) AS control_in_id,
           f.kana_problem IS NOT NULL AS kana_invalid,
           f.en_problem IS NOT NULL AS en_invalid
    FROM merchants
    LEFT JOIN (SELECT merchant_id, kana_problem, en_problem FROM merchant_file_names) f USING (merchant_id)
), bad_merchants AS (
    SELECT * FROM merchant_problems
    WHERE without_names OR control_character OR control_in_id OR kana_invalid OR en_invalid
), bad_pairs AS (
    -- A merchant's problems at one card company: its names too long for it, or no 加盟店番号 where
    -- the company requires one (merchants times card companies: small tables).
    SELECT m.merchant_id, k.card_company,
           (length(f.name_kana) > k.name_kana_max_length OR length(f.name_en) > k.name_en_max_length) AS too_long,
           (k.merchant_number_required AND n.merchant_id IS NULL) AS without_number
    FROM merchants m
    CROSS JOIN card_companies k
    LEFT JOIN merchant_file_names f ON f.merchant_id = m.merchant_id
    LEFT JOIN merchant_card_numbers n ON n.merchant_id = m.merchant_id AND n.card_company = k.card_company
    WHERE length(f.name_kana) > k.name_kana_max_length OR length(f.name_en) > k.name_en_max_length
       OR (k.merchant_number_required AND n.merchant_id IS NULL)
), good_file_codes AS (
    SELECT card_company
    FROM card_companies
    WHERE length(file_code) BETWEEN 1 AND 8
      AND ltrim(upper(file_code), '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') = ''
), candidates AS (
    -- Unsent slips with a problem, found with cheap tests before any date is worked out.
    SELECT *
    FROM (
        SELECT p.id, p.card_company, p.confirmation_registered_at, p.confirmed_on,
               m.merchant_id IS NOT NULL AS bad_merchant,
               (g.card_company IS NULL) AS bad_file_code,
               COALESCE(m.without_names, 0) AS without_names,
               COALESCE(m.control_character, 0) AS control_character,
               COALESCE(m.control_in_id, 0) AS control_in_id,
               COALESCE(m.kana_invalid, 0) AS kana_invalid,
               COALESCE(m.en_invalid, 0) AS en_invalid,
               COALESCE(b.too_long, 0) AS too_long,
               COALESCE(b.without_number, 0) AS without_number,
               CASE WHEN (p.payment_kind = 'installments' AND p.installments BETWEEN 2 AND 99)
                      OR (p.payment_kind IN ('lump_sum', 'revolving', 'bonus') AND p.installments IS NULL)
                    THEN 0 ELSE 1 END AS bad_payment_kind,
               NOT (p.amount BETWEEN 1 AND :max_amount AND p.amount = CAST(p.amount AS INTEGER)) AS bad_amount
        FROM slips p
        LEFT JOIN bad_merchants m ON m.merchant_id = p.merchant_id
        LEFT JOIN good_file_codes g ON g.card_company = p.card_company
        LEFT JOIN bad_pairs b ON b.merchant_id = p.merchant_id AND b.card_company = p.card_company
        WHERE p.confirmed_on IS NOT NULL AND p.cancelled_at IS NULL AND p.transmitted_on IS NULL
    ) tested
    WHERE bad_merchant OR bad_file_code OR bad_amount OR too_long OR without_number OR bad_payment_kind
), bad AS (
    -- Those due by the business date (the untransmitted_slips view's rule, written out as in
    -- mark.sqlite.sql), and whether their card company is known at all.
    SELECT c.id, c.bad_file_code, c.without_names, c.control_character, c.control_in_id, c.bad_amount,
           c.kana_invalid, c.en_invalid, c.too_long, c.without_number, c.bad_payment_kind,
           NOT EXISTS (SELECT 1 FROM card_companies k WHERE k.card_company = c.card_company) AS unknown_company
    FROM candidates c
    JOIN business_calendar d ON d.day = MAX(date(c.confirmation_registered_at, '+9 hours'), c.confirmed_on)
    WHERE d.next_business_day <= :business_date
)
SELECT :business_date, id, 'unknown_card_company' FROM bad WHERE unknown_company
UNION ALL
SELECT :business_date, id, 'card_company_file_code_invalid' FROM bad WHERE bad_file_code AND NOT unknown_company
UNION ALL
SELECT :business_date, id, 'merchant_without_store_names' FROM bad WHERE without_names
UNION ALL
SELECT :business_date, id, 'store_name_control_character' FROM bad WHERE control_character
UNION ALL
SELECT :business_date, id, 'merchant_id_control_character' FROM bad WHERE control_in_id
UNION ALL
SELECT :business_date, id, 'amount_out_of_range' FROM bad WHERE bad_amount
UNION ALL
SELECT :business_date, id, 'store_name_kana_invalid' FROM bad WHERE kana_invalid
UNION ALL
SELECT :business_date, id, 'store_name_en_invalid' FROM bad WHERE en_invalid
UNION ALL
SELECT :business_date, id, 'store_name_too_long' FROM bad WHERE too_long AND NOT unknown_company
UNION ALL
SELECT :business_date, id, 'merchant_without_card_number' FROM bad WHERE without_number AND NOT unknown_company
UNION ALL
SELECT :business_date, id, 'payment_kind_invalid' FROM bad WHERE bad_payment_kind
