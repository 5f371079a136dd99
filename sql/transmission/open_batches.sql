-- One batch per card company with slips going out on the business date (due then or earlier, not
-- held back), with its counts and totals, the header's fields and the next file sequence number.
INSERT INTO transmission_batches (
    business_date, card_company, file_name, record_count, amount_total, late_count,
    sequence_number, sender_code, file_code
)
SELECT
    :business_date,
    k.card_company,
    k.file_code || '_' || :date_code || '.csv',
    due.record_count,
    due.amount_total,
    due.late_count,
    COALESCE((SELECT max(b.sequence_number) FROM transmission_batches b
              WHERE b.card_company = k.card_company), 0) + 1,
    :sender_code,
    k.file_code
FROM (
    SELECT p.card_company,
           count(*) AS record_count,
           sum(p.amount) AS amount_total,
           sum(CASE WHEN p.transmission_date < :business_date THEN 1 ELSE 0 END) AS late_count
    FROM untransmitted_slips p
    WHERE p.transmission_date <= :business_date
      AND NOT EXISTS (SELECT 1 FROM transmission_holds h
                      WHERE h.business_date = :business_date AND h.slip_row_id = p.id)
    GROUP BY p.card_company
) due
JOIN card_companies k ON k.card_company = due.card_company
