-- The data records of every batch of the business date (their fields: docs/transmission-file.md),
-- batch by batch, each batch in a stable
-- order: merchant, then slip number, compared byte by byte (SQLite's BINARY collation).
-- kessai.transmission.daily cuts this stream into the batches' files by their record counts. Only the
-- last four characters of the card reference go out.
-- Fields 12 and 13 are the approval number (承認番号) and the gateway's transaction id of the
-- slip's sale authorization (slip_authorizations sequence 1; an increase's authorization is an
-- extra hold on the same sale); empty for a slip without one (older data, bulk loads, recurring).
-- A slip its card company rejected and that was sent again since (python -m kessai resend) is
-- still a record of the batch that first carried it (transmission_acknowledgements): a rebuilt
-- file has every record it had.
SELECT f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15
FROM (
    SELECT 'D' AS f1,
           s.slip_id AS f2,
           s.merchant_id AS f3,
           n.name AS f4,
           COALESCE(n.file_name_kana, n.name_kana) AS f5,
           COALESCE(n.file_name_en, n.name_en) AS f6,
           s.amount AS f7,
           s.payment_date AS f8,
           s.confirmed_on AS f9,
           CASE WHEN length(s.card_reference) >= 4 THEN '************' || substr(s.card_reference, length(s.card_reference) - 3) ELSE '' END AS f10,
           COALESCE(n.merchant_number, '') AS f11,
           COALESCE(a.approval_number, '') AS f12,
           COALESCE(a.transaction_id, '') AS f13,
           CASE s.payment_kind WHEN 'lump_sum' THEN '10' WHEN 'installments' THEN '61' WHEN 'revolving' THEN '80' WHEN 'bonus' THEN '21' END AS f14,
           COALESCE(CAST(s.installments AS TEXT), '') AS f15,
           s.transmission_batch_id AS batch_id, s.merchant_id AS merchant_key, s.slip_id AS slip_key
    FROM slips s
    JOIN transmission_batch_merchants n
      ON n.batch_id = s.transmission_batch_id AND n.merchant_id = s.merchant_id
    LEFT JOIN slip_authorizations a ON a.slip_row_id = s.id AND a.sequence = 1
    WHERE s.transmitted_on = :business_date
    UNION ALL
    SELECT 'D' AS f1,
           s.slip_id AS f2,
           s.merchant_id AS f3,
           n.name AS f4,
           COALESCE(n.file_name_kana, n.name_kana) AS f5,
           COALESCE(n.file_name_en, n.name_en) AS f6,
           s.amount AS f7,
           s.payment_date AS f8,
           s.confirmed_on AS f9,
           CASE WHEN length(s.card_reference) >= 4 THEN '************' || substr(s.card_reference, length(s.card_reference) - 3) ELSE '' END AS f10,
           COALESCE(n.merchant_number, '') AS f11,
           COALESCE(z.approval_number, '') AS f12,
           COALESCE(z.transaction_id, '') AS f13,
           CASE s.payment_kind WHEN 'lump_sum' THEN '10' WHEN 'installments' THEN '61' WHEN 'revolving' THEN '80' WHEN 'bonus' THEN '21' END AS f14,
           COALESCE(CAST(s.installments AS TEXT), '') AS f15,
           a.batch_id, s.merchant_id, s.slip_id
    FROM transmission_acknowledgements a
    JOIN transmission_batches b ON b.batch_id = a.batch_id
    JOIN slips s ON s.id = a.slip_row_id
    JOIN transmission_batch_merchants n ON n.batch_id = a.batch_id AND n.merchant_id = s.merchant_id
    LEFT JOIN slip_authorizations z ON z.slip_row_id = s.id AND z.sequence = 1
    WHERE b.business_date = :business_date AND a.result = 'rejected'
      AND (s.transmission_batch_id IS NULL OR s.transmission_batch_id <> a.batch_id)
) records
ORDER BY batch_id, merchant_key, slip_key
