-- How many slips of closing_slip_totals carry C without belonging to it: confirmed after C, or
-- of a merchant whose cycle has no closing on C (see move_misassigned_slips).
SELECT COALESCE(SUM(CASE WHEN merchants.payout_cycle = 'twice_monthly' OR :month_end
                         THEN closing_slip_totals.late_count
                         ELSE closing_slip_totals.slip_count + closing_slip_totals.previous_count
                              + closing_slip_totals.earlier_account_count END), 0)
FROM closing_slip_totals
JOIN merchants ON merchants.merchant_id = closing_slip_totals.merchant_id
