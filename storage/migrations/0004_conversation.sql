-- A participant's reaction to a message; the same reaction twice is one.
CREATE TABLE reactions (
	id         TEXT PRIMARY KEY,
	message_id TEXT NOT NULL REFERENCES messages (id),
	user_id    TEXT NOT NULL,
	reaction   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (message_id, user_id, reaction)
) WITHOUT ROWID;

CREATE INDEX reactions_message ON reactions (message_id, created_at);

-- How far each participant has read: the creation seq of the last message
-- it marked read. Everything at or before it counts as read.
CREATE TABLE read_marks (
	participant_id TEXT PRIMARY KEY REFERENCES participants (id),
	seq            INTEGER NOT NULL,
	message_id     TEXT NOT NULL,
	updated_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- Full-text index of message text and file names, written in the same
-- transaction as the message, its edits and its deletion. A message keeps
-- the rowid of its index entry, so changing or removing it is a lookup,
-- not a scan of the index.
CREATE VIRTUAL TABLE messages_fts USING fts5(body, message_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');

ALTER TABLE messages ADD COLUMN fts_rowid INTEGER;

INSERT INTO messages_fts (body, message_id)
	SELECT CASE type WHEN 'file' THEN file_name ELSE body END, id FROM messages WHERE deleted_at IS NULL AND type != 'image';

UPDATE messages SET fts_rowid = (SELECT rowid FROM messages_fts f WHERE f.message_id = messages.id)
	WHERE deleted_at IS NULL AND type != 'image';
