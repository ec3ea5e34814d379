-- v4: the counters `funnel report` reads, kept by triggers.
--
-- A history line is a *stage move* when it takes the contact into a stage
-- (to_step empty): an entry, a goal, an exit, an exhaustion, or a step's
-- outcome whose target is another stage. A step outcome that stays in the
-- stage, or an A/B split, is not. Stage figures are counted per *visit*
-- and dated by the day the visit began (a cohort), with the funnel version
-- the contact entered the stage under: a visit that began before an edit
-- stays with the old version even when it ends under the new one.

-- The version each funnel ran under last, so outbox rows and tasks, which
-- carry no version of their own, can be tagged with the one that queued them.
ALTER TABLE versions ADD COLUMN last_run TEXT;
UPDATE versions SET last_run = first_run;
ALTER TABLE outbox ADD COLUMN version TEXT;
ALTER TABLE tasks ADD COLUMN version TEXT;

-- Visits per stage: outcome `entered`, or the kind of the move that ended
-- the visit and where it went.
CREATE TABLE stage_flow (
    funnel TEXT NOT NULL,
    stage TEXT NOT NULL,
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    outcome TEXT NOT NULL,
    to_stage TEXT NOT NULL,
    contacts INTEGER NOT NULL,
    PRIMARY KEY (funnel, stage, version, day, outcome, to_stage)
) WITHOUT ROWID;

-- How long each visit that ended positively took, in seconds, ordered so a
-- median is an OFFSET into the index rather than a sort.
CREATE TABLE stage_times (
    funnel TEXT NOT NULL,
    stage TEXT NOT NULL,
    seconds INTEGER NOT NULL,
    id INTEGER NOT NULL,
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    outcome TEXT NOT NULL,
    to_stage TEXT NOT NULL,
    PRIMARY KEY (funnel, stage, seconds, id)
) WITHOUT ROWID;

-- Outcomes of waits and branches per step, dated by the day they happened.
CREATE TABLE step_flow (
    funnel TEXT NOT NULL,
    stage TEXT NOT NULL,
    step TEXT NOT NULL,
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    outcome TEXT NOT NULL,
    contacts INTEGER NOT NULL,
    PRIMARY KEY (funnel, stage, step, version, day, outcome)
) WITHOUT ROWID;

-- A/B splits: outcome `assigned` per variant, then how the visit that
-- assigned it ended, dated by the day of the assignment.
CREATE TABLE split_flow (
    funnel TEXT NOT NULL,
    stage TEXT NOT NULL,
    step TEXT NOT NULL,
    variant TEXT NOT NULL,
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    outcome TEXT NOT NULL,
    to_stage TEXT NOT NULL,
    contacts INTEGER NOT NULL,
    PRIMARY KEY (funnel, stage, step, variant, version, day, outcome, to_stage)
) WITHOUT ROWID;

-- Outbox rows per step and status, dated by when they were due; a status
-- change moves a row from one counter to another.
CREATE TABLE step_sends (
    funnel TEXT NOT NULL,
    step TEXT NOT NULL,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    status TEXT NOT NULL,
    actions INTEGER NOT NULL,
    PRIMARY KEY (funnel, step, channel, version, day, status)
) WITHOUT ROWID;

CREATE INDEX tasks_report ON tasks (funnel, assignee);

CREATE TRIGGER report_arrival AFTER INSERT ON history
WHEN NEW.to_stage IS NOT NULL AND NEW.to_step IS NULL AND NEW.kind <> 'split'
    AND (NEW.kind IN ('enter', 'goal', 'exit', 'exhausted') OR NEW.to_stage IS NOT NEW.from_stage)
BEGIN
    INSERT INTO stage_flow VALUES (NEW.funnel, NEW.to_stage, NEW.version, substr(NEW.at, 1, 10), 'entered', '', 1)
        ON CONFLICT DO UPDATE SET contacts = contacts + 1;
END;

-- A departure finds the move that began its visit: the same contact's last
-- move into the stage it leaves, in the same entry.
CREATE TRIGGER report_departure AFTER INSERT ON history
WHEN NEW.from_stage IS NOT NULL AND NEW.to_stage IS NOT NULL AND NEW.to_step IS NULL AND NEW.kind <> 'split'
    AND (NEW.kind IN ('enter', 'goal', 'exit', 'exhausted') OR NEW.to_stage IS NOT NEW.from_stage)
BEGIN
    INSERT INTO stage_flow
        SELECT NEW.funnel, NEW.from_stage, a.version, substr(a.at, 1, 10), NEW.kind, NEW.to_stage, 1
        FROM history a
        WHERE a.id = (
            SELECT b.id FROM history b
            WHERE b.contact = NEW.contact AND b.funnel = NEW.funnel AND b.entry = NEW.entry
                AND b.id < NEW.id AND b.to_stage = NEW.from_stage AND b.to_step IS NULL AND b.kind <> 'split'
                AND (b.kind IN ('enter', 'goal', 'exit', 'exhausted') OR b.to_stage IS NOT b.from_stage)
            ORDER BY b.id DESC LIMIT 1)
        ON CONFLICT DO UPDATE SET contacts = contacts + 1;
    INSERT INTO stage_times
        SELECT NEW.funnel, NEW.from_stage, unixepoch(NEW.at) - unixepoch(a.at), NEW.id, a.version, substr(a.at, 1, 10), NEW.kind, NEW.to_stage
        FROM history a
        WHERE NEW.kind IN ('goal', 'wait-yes', 'branch-yes') AND a.id = (
            SELECT b.id FROM history b
            WHERE b.contact = NEW.contact AND b.funnel = NEW.funnel AND b.entry = NEW.entry
                AND b.id < NEW.id AND b.to_stage = NEW.from_stage AND b.to_step IS NULL AND b.kind <> 'split'
                AND (b.kind IN ('enter', 'goal', 'exit', 'exhausted') OR b.to_stage IS NOT b.from_stage)
            ORDER BY b.id DESC LIMIT 1);
    -- The splits of this visit: recorded after the move that began it.
    INSERT INTO split_flow
        SELECT s.funnel, s.from_stage, s.from_step, s.to_step, s.version, substr(s.at, 1, 10), NEW.kind, NEW.to_stage, 1
        FROM history s
        WHERE s.contact = NEW.contact AND s.funnel = NEW.funnel AND s.entry = NEW.entry
            AND s.kind = 'split' AND s.from_stage = NEW.from_stage AND s.id < NEW.id
            AND s.id > coalesce((
                SELECT b.id FROM history b
                WHERE b.contact = NEW.contact AND b.funnel = NEW.funnel AND b.entry = NEW.entry
                    AND b.id < NEW.id AND b.to_stage = NEW.from_stage AND b.to_step IS NULL AND b.kind <> 'split'
                    AND (b.kind IN ('enter', 'goal', 'exit', 'exhausted') OR b.to_stage IS NOT b.from_stage)
                ORDER BY b.id DESC LIMIT 1), 0)
        ON CONFLICT DO UPDATE SET contacts = contacts + 1;
END;

CREATE TRIGGER report_split AFTER INSERT ON history
WHEN NEW.kind = 'split'
BEGIN
    INSERT INTO split_flow VALUES (NEW.funnel, NEW.from_stage, NEW.from_step, NEW.to_step, NEW.version, substr(NEW.at, 1, 10), 'assigned', '', 1)
        ON CONFLICT DO UPDATE SET contacts = contacts + 1;
END;

CREATE TRIGGER report_step AFTER INSERT ON history
WHEN NEW.from_step IS NOT NULL AND NEW.kind IN ('wait-yes', 'wait-no', 'branch-yes', 'branch-no')
BEGIN
    INSERT INTO step_flow VALUES (NEW.funnel, NEW.from_stage, NEW.from_step, NEW.version, substr(NEW.at, 1, 10), NEW.kind, 1)
        ON CONFLICT DO UPDATE SET contacts = contacts + 1;
END;

-- Escalation notices are counted with the staff's tasks, not as sends.
-- The runner writes the version a row was queued under; a row written
-- without one (an older writer, the upgrade below) gets the funnel's latest.
CREATE TRIGGER report_version AFTER INSERT ON outbox
WHEN NEW.version IS NULL AND NEW.key NOT LIKE '%/escalation'
BEGIN
    UPDATE outbox SET version = coalesce((
        SELECT v.version FROM versions v WHERE v.funnel = NEW.funnel ORDER BY v.last_run DESC LIMIT 1), '')
    WHERE id = NEW.id;
END;

CREATE TRIGGER report_queued AFTER INSERT ON outbox
WHEN NEW.key NOT LIKE '%/escalation'
BEGIN
    INSERT INTO step_sends VALUES (NEW.funnel, NEW.step, NEW.channel, coalesce(NEW.version, (
        SELECT v.version FROM versions v WHERE v.funnel = NEW.funnel ORDER BY v.last_run DESC LIMIT 1), ''),
        substr(NEW.due_at, 1, 10), NEW.status, 1)
        ON CONFLICT DO UPDATE SET actions = actions + 1;
END;

CREATE TRIGGER report_status AFTER UPDATE OF status ON outbox
WHEN OLD.status IS NOT NEW.status AND NEW.key NOT LIKE '%/escalation'
BEGIN
    UPDATE step_sends SET actions = actions - 1
        WHERE funnel = OLD.funnel AND step = OLD.step AND channel = OLD.channel
            AND version = coalesce(OLD.version, '') AND day = substr(OLD.due_at, 1, 10) AND status = OLD.status;
    INSERT INTO step_sends VALUES (NEW.funnel, NEW.step, NEW.channel, coalesce(NEW.version, ''), substr(NEW.due_at, 1, 10), NEW.status, 1)
        ON CONFLICT DO UPDATE SET actions = actions + 1;
END;

CREATE TRIGGER report_task AFTER INSERT ON tasks
BEGIN
    UPDATE tasks SET version = coalesce(NEW.version, (
        SELECT v.version FROM versions v WHERE v.funnel = NEW.funnel ORDER BY v.last_run DESC LIMIT 1), '')
    WHERE id = NEW.id;
END;

-- States written before v4: insert every row again, in order, so the
-- triggers count them exactly as if they had been there all along.
CREATE TEMP TABLE history_v2 AS SELECT * FROM history;
DELETE FROM history;
INSERT INTO history SELECT * FROM history_v2 ORDER BY id;
DROP TABLE history_v2;
CREATE TEMP TABLE outbox_v2 AS SELECT * FROM outbox;
DELETE FROM outbox;
INSERT INTO outbox SELECT * FROM outbox_v2 ORDER BY id;
DROP TABLE outbox_v2;
CREATE TEMP TABLE tasks_v2 AS SELECT * FROM tasks;
DELETE FROM tasks;
INSERT INTO tasks SELECT * FROM tasks_v2 ORDER BY id;
DROP TABLE tasks_v2;
