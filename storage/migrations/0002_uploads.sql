-- Uploaded files. The bytes live in the files/ directory under id (and
-- thumb_id for an image's thumbnail); this table says whose they are and
-- which message uses them.
CREATE TABLE uploads (
	id         TEXT PRIMARY KEY,
	thumb_id   TEXT UNIQUE,
	meeting_id TEXT NOT NULL REFERENCES meetings (id),
	user_id    TEXT NOT NULL REFERENCES participants (id),
	name       TEXT NOT NULL,
	size       INTEGER NOT NULL,
	mime       TEXT NOT NULL,
	width      INTEGER NOT NULL DEFAULT 0,
	height     INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	message_id TEXT,
	deleted_at INTEGER
) WITHOUT ROWID;

CREATE INDEX uploads_unused ON uploads (created_at) WHERE message_id IS NULL AND deleted_at IS NULL;

-- An image or file message keeps its links as sent (absolute URLs).
ALTER TABLE messages ADD COLUMN upload_id TEXT;
ALTER TABLE messages ADD COLUMN link TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN thumbnail TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN height INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN file_name TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN file_size INTEGER NOT NULL DEFAULT 0;
