-- What some statements transfer, and the file each went in (primary key).
SELECT t.statement_id, t.bank_account_id, a.bank_code, a.branch_code, a.account_number, t.payout_date, t.amount,
       f.file_name
FROM payout_transfers t
JOIN bank_accounts a ON a.bank_account_id = t.bank_account_id
LEFT JOIN payout_transfer_files f ON f.transfer_file_id = t.transfer_file_id
WHERE t.statement_id IN :statement_ids
ORDER BY t.statement_id, t.bank_account_id
