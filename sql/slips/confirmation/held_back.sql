-- Acceptable rows the apply step did not confirm: the guard held them back because another
-- operation changed their slip meanwhile. They are checked again.
UPDATE confirmation_rows
SET held_back = TRUE
WHERE reason IS NULL
  AND NOT EXISTS (
      SELECT 1
      FROM slips
      WHERE slips.id = confirmation_rows.slip_row_id
        AND slips.confirmation_registered_at = :registered_at
        AND slips.confirmed_on = confirmation_rows.confirmed_on
  )
