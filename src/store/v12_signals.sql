-- v12: what `funnel serve` hears. Suppressions win over anything a feed
-- says: a contact who unsubscribed, or an address that bounced hard or
-- complained, is not written to again. `contact` or `address` is '' when
-- only the other is known (a bounce names an address; an unsubscribe link
-- names a contact), so the unique key works without NULLs.
CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (channel, contact, address)
);
CREATE INDEX suppressions_contact ON suppressions (contact) WHERE contact != '';
CREATE INDEX suppressions_address ON suppressions (address) WHERE address != '';

-- Which contact an address was last written to for, so that a reply or a
-- STOP from a phone number, or a bounce from an address, finds its contact.
CREATE TABLE addresses (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    contact TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;

-- When `serve` received each event, apart from when it happened.
ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'funnel';
ALTER TABLE events ADD COLUMN received_at TEXT;

-- When a message left, by the wall clock: a click within seconds of it is
-- a mail scanner's, not the contact's.
ALTER TABLE outbox ADD COLUMN sent_at TEXT;

-- Signature tokens a provider (Mailgun) signs without the body, kept for
-- a while so that a captured signature cannot carry another body.
CREATE TABLE replays (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL
) WITHOUT ROWID;
