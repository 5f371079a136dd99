-- The slips of C that had not gone to their card company by C although due by C: their transmission
-- date (the business day after effective_on, SPEC §4.2) is on or before C and they were not
-- transmitted on or before C (not at all, or later). Pay only what went out (docs/payout-closing.md):
-- they are recorded here with their reasons and move to the merchant's next closing
-- (move_held_slips). Every fact read is fixed by the end of C, so a backfill of C run any day later
-- holds back the same slips. Slips due after C (confirmed on C, or on the days before a weekend)
-- stay in C: they go out the next business day, before any transfer file.
--
-- The reasons are those of the slip's latest transmission hold on or before C (open-ended strings,
-- kessai.transmission.daily), or not_transmitted when no run held it back (a transmission day missed).
-- A slip that went out by C is held too when its card company's answer (kessai.transmission.acknowledgements)
-- read by C rejected it (rejected_by_card_company), or when its card company requires an answer
-- and no acceptance was read by C (awaiting_acknowledgement). A rejected slip that is also
-- awaiting has both reasons.
-- The candidates are read by the slips' own columns first: the untransmitted ones by the partial
-- index ix_slips_awaiting_transmission, those transmitted after C by ix_slips_transmitted_on.
INSERT INTO payout_held_slips (closing_date, slip_row_id, reason)
WITH candidates AS (
    SELECT id, CAST(NULL AS VARCHAR(64)) AS answer FROM slips
    WHERE transmitted_on IS NULL AND confirmed_on IS NOT NULL AND closing_date = :closing_date
    UNION ALL
    SELECT id, NULL FROM slips
    WHERE transmitted_on > :closing_date AND confirmed_on IS NOT NULL AND closing_date = :closing_date
    UNION ALL
    -- Went out, but its card company rejected it (an answer read by C): it went out to no effect.
    SELECT slips.id, 'rejected_by_card_company'
    FROM transmission_acknowledgements a
    JOIN slips ON slips.id = a.slip_row_id AND slips.transmission_batch_id = a.batch_id
    WHERE a.result = 'rejected' AND a.received_on <= :closing_date
      AND slips.transmitted_on <= :closing_date AND slips.closing_date = :closing_date
    UNION ALL
    -- Went out to a card company that must accept it first, and no acceptance was read by C.
    SELECT slips.id, 'awaiting_acknowledgement'
    FROM card_companies k
    JOIN slips ON slips.card_company = k.card_company
    WHERE k.requires_acknowledgement
      AND slips.transmitted_on <= :closing_date AND slips.closing_date = :closing_date
      AND NOT EXISTS (SELECT 1 FROM transmission_acknowledgements a
                      WHERE a.slip_row_id = slips.id AND a.batch_id = slips.transmission_batch_id
                        AND a.result = 'accepted' AND a.received_on <= :closing_date)
),
held AS (
    SELECT dated_slips.id, candidates.answer
    FROM candidates
    JOIN dated_slips ON dated_slips.id = candidates.id
    JOIN merchants ON merchants.merchant_id = dated_slips.merchant_id
    JOIN business_calendar ON business_calendar.day = dated_slips.effective_on
    WHERE dated_slips.effective_on <= :closing_date
      AND business_calendar.next_business_day <= :closing_date
      AND (merchants.payout_cycle = 'twice_monthly' OR :month_end)
),
latest_holds AS (
    SELECT transmission_holds.slip_row_id, MAX(transmission_holds.business_date) AS business_date
    FROM transmission_holds
    JOIN held ON held.id = transmission_holds.slip_row_id
    WHERE transmission_holds.business_date <= :closing_date
    GROUP BY transmission_holds.slip_row_id
)
SELECT :closing_date, held.id, COALESCE(held.answer, transmission_holds.reason, 'not_transmitted')
FROM held
LEFT JOIN latest_holds ON latest_holds.slip_row_id = held.id
LEFT JOIN transmission_holds
       ON transmission_holds.slip_row_id = held.id
      AND transmission_holds.business_date = latest_holds.business_date
WHERE TRUE  -- SQLite reads ON CONFLICT after a join's ON only past a WHERE
ON CONFLICT (closing_date, slip_row_id, reason) DO NOTHING
