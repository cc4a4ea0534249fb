-- Times are unix milliseconds; ids are UUID text.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- The epoch tells resuming clients whether this is the database they knew.
INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));

CREATE TABLE presets (
	name       TEXT PRIMARY KEY,
	perms      TEXT NOT NULL,
	built_in   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO presets (name, perms, built_in, created_at, updated_at) VALUES
	('host', '{"public":{"can_send":true,"text":true,"files":true},"private":{"can_send":true,"can_receive":true,"text":true,"files":true},"moderate":true}', 1, 0, 0),
	('participant', '{"public":{"can_send":true,"text":true,"files":true},"private":{"can_send":true,"can_receive":true,"text":true,"files":true},"moderate":false}', 1, 0, 0),
	('viewer', '{"public":{"can_send":false,"text":false,"files":false},"private":{"can_send":false,"can_receive":true,"text":false,"files":false},"moderate":false}', 1, 0, 0);

CREATE TABLE meetings (
	id           TEXT PRIMARY KEY,
	title        TEXT NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
	persist_chat INTEGER NOT NULL,
	picture      TEXT NOT NULL DEFAULT '',
	metadata     TEXT NOT NULL DEFAULT '{}',
	seq          INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX meetings_created ON meetings (created_at, id);

CREATE TABLE participants (
	id                    TEXT PRIMARY KEY,
	meeting_id            TEXT NOT NULL REFERENCES meetings (id),
	custom_participant_id TEXT NOT NULL,
	name                  TEXT NOT NULL,
	picture               TEXT NOT NULL DEFAULT '',
	preset_name           TEXT NOT NULL REFERENCES presets (name),
	token_hash            BLOB UNIQUE,
	token_expires_at      INTEGER NOT NULL,
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL,
	deleted_at            INTEGER
) WITHOUT ROWID;

CREATE UNIQUE INDEX participants_custom ON participants (meeting_id, custom_participant_id) WHERE deleted_at IS NULL;
CREATE INDEX participants_meeting ON participants (meeting_id, created_at);
CREATE INDEX participants_preset ON participants (preset_name) WHERE deleted_at IS NULL;

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	meeting_id TEXT NOT NULL REFERENCES meetings (id),
	status     TEXT NOT NULL CHECK (status IN ('LIVE', 'ENDED')),
	started_at INTEGER NOT NULL,
	ended_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX sessions_meeting ON sessions (meeting_id, started_at);
CREATE INDEX sessions_started ON sessions (started_at);

CREATE TABLE session_participants (
	session_id     TEXT NOT NULL REFERENCES sessions (id),
	participant_id TEXT NOT NULL REFERENCES participants (id),
	joined_at      INTEGER NOT NULL,
	left_at        INTEGER,
	PRIMARY KEY (session_id, participant_id)
) WITHOUT ROWID;

CREATE TABLE messages (
	id           TEXT PRIMARY KEY,
	meeting_id   TEXT NOT NULL REFERENCES meetings (id),
	session_id   TEXT NOT NULL REFERENCES sessions (id),
	user_id      TEXT NOT NULL REFERENCES participants (id),
	display_name TEXT NOT NULL,
	type         TEXT NOT NULL,
	body         TEXT NOT NULL DEFAULT '',
	targets      TEXT,            -- JSON array of participant ids; NULL for public
	reply_to     TEXT,
	metadata     TEXT NOT NULL DEFAULT '{}',
	client_id    TEXT,
	is_edited    INTEGER NOT NULL DEFAULT 0,
	pinned       INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	created_seq  INTEGER NOT NULL, -- the seq of its creation: commit order
	seq          INTEGER NOT NULL, -- the seq of its latest change
	deleted_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX messages_order ON messages (meeting_id, created_seq);
CREATE INDEX messages_session ON messages (session_id, created_seq);
CREATE UNIQUE INDEX messages_client ON messages (user_id, client_id) WHERE client_id IS NOT NULL;

-- Who a private message is for, so visibility is a join, not a JSON scan.
CREATE TABLE message_targets (
	message_id TEXT NOT NULL REFERENCES messages (id),
	user_id    TEXT NOT NULL,
	PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;

CREATE INDEX message_targets_user ON message_targets (user_id, message_id);

-- The change log: every event with a seq, as sent, for resume.
CREATE TABLE changes (
	meeting_id TEXT NOT NULL,
	seq        INTEGER NOT NULL,
	message_id TEXT NOT NULL,
	event      TEXT NOT NULL,
	audience   TEXT,              -- JSON array; NULL means everyone
	frame      BLOB,              -- NULL once the message is deleted
	PRIMARY KEY (meeting_id, seq)
) WITHOUT ROWID;

CREATE INDEX changes_message ON changes (message_id);
