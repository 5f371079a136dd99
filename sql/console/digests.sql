-- The stale-slip digests the reminder run of day wrote (ix_stale_slip_digests_business_date).
SELECT COUNT(*) AS digests,
       SUM(CAST(open_slips AS BIGINT)) AS open_slips,
       SUM(CAST(open_amount AS BIGINT)) AS open_amount,
       SUM(CAST(final_notice_slips AS BIGINT)) AS final_notice_slips,
       SUM(CAST(expired_slips AS BIGINT)) AS expired_slips
FROM stale_slip_digests
WHERE business_date = :day
