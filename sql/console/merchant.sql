SELECT merchant_id, name, name_kana, name_en, email, payout_cycle, fee_rate_bp, transfer_fee, minimum_payout,
       reminder_period
FROM merchants
WHERE merchant_id = :merchant_id
