-- Re-evaluation (issue 17): device_compliance's index on state served no
-- query. The device list's compliance filter finds each device's row by
-- device_id, and the summary's count by state reads every row either way
-- (at 100,000 devices: 0.69 s through the index, 0.65 s without it, on
-- SQLite). Every write of a device's state kept it up to date: a policy
-- change that moved every device took an index entry out and put one back
-- for each, a fifth of its 100,000 updates' time (docs/fleet.md, eighth
-- pass), and every report's compliance write did the same.
DROP INDEX device_compliance_state;
