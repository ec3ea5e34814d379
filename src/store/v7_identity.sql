-- v7: identity, not position; time-correct journeys.
--
-- A journey names its step by id (NULL once the stage's steps ran out),
-- not by its index in the stage, so an edit that adds, removes or reorders
-- steps cannot silently move anyone. A position written by an older funnel
-- is kept as `#N` until the next run resolves it against the funnel (the
-- runner does it, since only it has the funnel). Each journey records the
-- funnel version it runs under (from its last history line where the state
-- has one), the event that caused its last move (an event is consumed
-- once), and the deadline its open wait promised.
CREATE TABLE journeys_v7 (
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    entry INTEGER NOT NULL,
    stage TEXT NOT NULL,
    step TEXT,
    clock TEXT NOT NULL,
    waiting_since TEXT,
    stage_since TEXT NOT NULL,
    active INTEGER NOT NULL,
    entered_at TEXT NOT NULL,
    left_at TEXT,
    version TEXT NOT NULL DEFAULT '',
    cause TEXT,
    deadline TEXT,
    PRIMARY KEY (funnel, contact)
) WITHOUT ROWID;
INSERT INTO journeys_v7
SELECT j.funnel, j.contact, j.entry, j.stage, '#' || j.step, j.clock, j.waiting_since,
       j.stage_since, j.active, j.entered_at, j.left_at,
       COALESCE((SELECT h.version FROM history h
                 WHERE h.contact = j.contact AND h.funnel = j.funnel
                 ORDER BY h.id DESC LIMIT 1), ''),
       NULL, NULL
FROM journeys j;
DROP TABLE journeys;
ALTER TABLE journeys_v7 RENAME TO journeys;
CREATE INDEX journeys_stage ON journeys (funnel, stage, step);

-- The text of every funnel version that ran, so `funnel diff` and the
-- runner can compare what in-flight contacts run under with the file on
-- disk, and `report` knows a version's structure without the file.
ALTER TABLE versions ADD COLUMN source TEXT;

-- When each contact's row (the fields one funnel declares) was first seen
-- with its current values: a condition over fields is true from then, not
-- from whichever run happened to evaluate it.
CREATE TABLE sightings (
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    fingerprint INTEGER NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (funnel, contact)
) WITHOUT ROWID;

-- Why a task was closed without being done (the contact left its stage).
ALTER TABLE tasks ADD COLUMN reason TEXT;

-- Events recorded by funnel itself (`funnel task done`), read by the next
-- run together with the events feed.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    contact TEXT NOT NULL,
    name TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    dedupe TEXT NOT NULL UNIQUE
);
CREATE INDEX events_contact ON events (contact, at);

-- Tasks closed after their deadline without having been escalated: they
-- were overdue while the contact was there, whenever a run looked.
CREATE INDEX tasks_late ON tasks (due_at)
    WHERE escalated_at IS NULL AND status != 'open' AND done_at > due_at;
