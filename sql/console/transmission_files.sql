-- The files a transmission run of day sent, one per card company (transmission_batches' unique
-- (business_date, card_company)).
SELECT b.card_company, c.name AS company_name, b.file_name, b.record_count, b.amount_total, b.late_count
FROM transmission_batches b
LEFT JOIN card_companies c ON c.card_company = b.card_company
WHERE b.business_date = :day
ORDER BY b.card_company
