-- Compact storage (issue 17), a device's packages packed: see the SQLite
-- migration of the same number.
CREATE TABLE device_packages (
    device_num BIGINT PRIMARY KEY REFERENCES devices (num),
    packed     BYTEA NOT NULL
);

CREATE TABLE device_software_by_package (
    package_id BIGINT NOT NULL REFERENCES software_catalogue (id),
    device_num BIGINT NOT NULL REFERENCES devices (num),
    dup        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (package_id, device_num, dup)
);

INSERT INTO device_software_by_package (package_id, device_num, dup)
SELECT package_id, device_num, row_number() OVER (PARTITION BY device_num, package_id ORDER BY dup) - 1
FROM device_software;

-- afterMigration (search.go) fills device_packages from device_software,
-- then drops it and renames device_software_by_package to its name.
