-- Compact storage (issue 17). A fleet installs the same few thousand
-- package versions on every machine, so each distinct (source, name, arch,
-- version, publisher) is stored once, in software_catalogue, and a device's
-- packages are rows of small integers in device_software: its device
-- number (devices.num, instead of the 36-byte id) and the catalogue id,
-- with the install date where present and a duplicate counter.
-- "Who has X version Y" and policy name patterns match the catalogue's few
-- thousand rows first, then join. Catalogue rows no device uses any more
-- are kept: history and compliance name packages by text, not by id, so
-- nothing needs them, and a fleet returns to old versions often enough
-- (a rollback, a reimaged machine) that they are cheaper kept than
-- re-inserted; the catalogue grows with the distinct versions ever seen,
-- not with devices.

-- the device number: a small integer that never changes and is never
-- reused (devices are never deleted; retention keeps the row)
ALTER TABLE devices ADD COLUMN num INTEGER;
UPDATE devices SET num = rowid;
CREATE UNIQUE INDEX devices_num ON devices (num);
CREATE TRIGGER devices_num AFTER INSERT ON devices WHEN NEW.num IS NULL
BEGIN
    UPDATE devices SET num = (SELECT coalesce(max(num), 0) + 1 FROM devices) WHERE id = NEW.id;
END;

CREATE TABLE software_catalogue (
    id        INTEGER PRIMARY KEY,
    source    TEXT NOT NULL,
    name      TEXT NOT NULL,
    arch      TEXT NOT NULL DEFAULT '',
    version   TEXT NOT NULL DEFAULT '',
    publisher TEXT NOT NULL DEFAULT '',
    -- install path or bundle id where the source has one: the same on
    -- every machine for nearly every package, so catalogued too
    location  TEXT NOT NULL DEFAULT '',
    -- name first: "who has X (version Y)" and the dedup on insert
    UNIQUE (name, version, source, arch, publisher, location)
);

CREATE TABLE device_software (
    device_num   INTEGER NOT NULL REFERENCES devices (num),
    package_id   INTEGER NOT NULL REFERENCES software_catalogue (id),
    -- tells apart entries identical in all of the above (0 for the first)
    dup          INTEGER NOT NULL DEFAULT 0,
    install_date TEXT,
    PRIMARY KEY (device_num, package_id, dup)
) WITHOUT ROWID;
-- "who has": from the catalogue ids to the devices
CREATE INDEX device_software_package ON device_software (package_id, device_num);

INSERT INTO software_catalogue (source, name, arch, version, publisher, location)
SELECT DISTINCT source, name, arch, version, publisher, location FROM software ORDER BY name, version, source, arch, publisher, location;

INSERT INTO device_software (device_num, package_id, dup, install_date)
SELECT d.num, c.id, row_number() OVER (PARTITION BY d.num, c.id ORDER BY s.id) - 1, s.install_date
FROM software s
JOIN devices d ON d.id = s.device_id
JOIN software_catalogue c ON c.name = s.name AND c.version = s.version AND c.source = s.source AND c.arch = s.arch AND c.publisher = s.publisher AND c.location = s.location;

DROP TABLE software;

-- The snapshot compressed (zstd of its canonical JSON, about a tenth of
-- its size): a row holds packed and an empty snapshot. afterMigration
-- (search.go) packs the rows stored before, in Go, right after this SQL;
-- VACUUM then returns the space to the file system.
ALTER TABLE snapshots ADD COLUMN packed BLOB;
