SELECT bank_account_id, bank_code, bank_name_kana, branch_code, branch_name_kana, account_type, account_number,
       holder_kana, effective_from
FROM bank_accounts
WHERE merchant_id = :merchant_id
ORDER BY effective_from
