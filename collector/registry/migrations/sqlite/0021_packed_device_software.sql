-- Compact storage (issue 17), a device's packages packed: device_software
-- was one row per package in device order plus an index in catalogue
-- order, about 17 KB for a 750-package device. Now the device's packages
-- are one packed value in device_packages (catalogue ids as varint
-- differences, duplicate counters implied, install dates where known:
-- about a kilobyte; software.go: packEntries) for the reads of one
-- device, and device_software keeps one row per package in catalogue
-- order only, (package_id, device_num, dup), for the reads across the
-- fleet (who has, the software filter, policy patterns). Both are written
-- in one transaction (software.go: replaceSoftware).
CREATE TABLE device_packages (
    device_num INTEGER PRIMARY KEY REFERENCES devices (num),
    packed     BLOB NOT NULL
);

CREATE TABLE device_software_by_package (
    package_id INTEGER NOT NULL REFERENCES software_catalogue (id),
    device_num INTEGER NOT NULL REFERENCES devices (num),
    dup        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (package_id, device_num, dup)
) WITHOUT ROWID;

-- duplicate counters renumbered 0, 1, 2, … per device and catalogue id,
-- as the packed entries number them (afterMigration packs the same order)
INSERT INTO device_software_by_package (package_id, device_num, dup)
SELECT package_id, device_num, row_number() OVER (PARTITION BY device_num, package_id ORDER BY dup) - 1
FROM device_software ORDER BY package_id, device_num, dup;

-- afterMigration (search.go) fills device_packages from device_software,
-- then drops it and renames device_software_by_package to its name.
