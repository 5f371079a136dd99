-- An authorization still held on a slip that went to its card company was captured by that
-- transmission: nothing can void it any more.
UPDATE slip_authorizations
SET state = 'captured'
WHERE state = 'held'
  AND EXISTS (SELECT 1 FROM slips s WHERE s.id = slip_authorizations.slip_row_id AND s.transmitted_on IS NOT NULL)
