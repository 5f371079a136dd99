-- Merchants by id or by a part of a name (the merchants table, not the slips).
SELECT merchant_id, name, name_kana, name_en, payout_cycle
FROM merchants
WHERE merchant_id = :query OR lower(name) LIKE :pattern OR name_kana LIKE :pattern OR lower(name_en) LIKE :pattern
ORDER BY merchant_id
LIMIT 50
