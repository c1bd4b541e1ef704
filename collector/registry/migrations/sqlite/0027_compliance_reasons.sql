-- Re-evaluation and compact storage (issue 17): the dictionary of
-- compliance reasons. A device's results document (device_compliance.
-- results) names each result's reason by its id here ("reason_id")
-- instead of repeating the text: the texts were most of a document's
-- ~1.2 KB and most devices share them, so a policy change that rewrote
-- every device's document wrote the same texts 100,000 times
-- (registry/reasons.go). Documents stored before keep their texts
-- ("reason") and still read; each takes the new form when its device's
-- results are next written. Rows are never changed: an id,
-- once committed, means one text until the retention purge's sweep
-- deletes it when no document or transition names it any more; the
-- sweep moves the epoch below, which is what lets every collector keep
-- the ids it has met in memory.
CREATE TABLE compliance_reasons (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
-- The dictionary's epoch: the retention purge's sweep of the rows nothing
-- names any more (purge.go) increments it, and a collector whose ids in
-- memory are of an older epoch drops them before it writes any. One row
-- (id 1), written by the first sweep; none reads as epoch 0, so a new
-- store has no rows (roster-collector migrate-store fills only empty
-- ones).
CREATE TABLE compliance_reasons_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
