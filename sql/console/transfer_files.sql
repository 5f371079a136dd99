-- The Zengin files built for the payout dates in [first, last] (unique (payout_date, sequence)).
SELECT payout_date, sequence, file_name, record_count, amount_total, created_at
FROM payout_transfer_files
WHERE payout_date BETWEEN :first AND :last
ORDER BY payout_date, sequence
