-- The lines of some statements, per card company and bank account (primary key).
SELECT l.statement_id, l.card_company, l.bank_account_id, a.bank_code, a.branch_code, a.account_number,
       l.slip_count, l.gross_amount, l.fee, l.held_back_count, l.held_back_amount
FROM payout_statement_lines l
JOIN bank_accounts a ON a.bank_account_id = l.bank_account_id
WHERE l.statement_id IN :statement_ids
ORDER BY l.statement_id, l.card_company, l.bank_account_id
