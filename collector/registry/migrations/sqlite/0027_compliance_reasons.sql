-- Re-evaluation and compact storage (issue 17): the dictionary of
-- compliance reasons. A device's results document (device_compliance.
-- results) names each result's reason by its id here ("reason_id")
-- instead of repeating the text: the texts were most of a document's
-- ~1.2 KB and most devices share them, so a policy change that rewrote
-- every device's document wrote the same texts 100,000 times
-- (registry/reasons.go). Documents stored before keep their texts
-- ("reason") and still read; each takes the new form when its device's
-- results are next written. Rows are never changed or deleted: an id,
-- once committed, means one text for ever, which is what lets every
-- collector keep the ids it has met in memory.
CREATE TABLE compliance_reasons (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
