package chat

import (
	"context"
	"io"
	"time"
)

// Store keeps parley's state. Package storage implements it on SQLite.
//
// All writes go through Update so that the store can commit concurrent writes
// together and give each meeting change its seq in commit order.
type Store interface {
	Reader

	// Update runs fn against the single writer, possibly in one transaction
	// with other concurrent updates (each in its own savepoint), and returns
	// once the result is durably committed. If fn fails its writes are
	// undone and the error is returned. Callbacks fn registers with
	// Tx.AfterCommit run after the commit, in commit order, before Update returns.
	Update(ctx context.Context, fn func(Tx) error) error

	// View runs fn against one consistent read snapshot.
	View(ctx context.Context, fn func(Reader) error) error

	// Epoch identifies this database; it changes only when the database is replaced.
	Epoch() string
}

// Reader answers queries. Lookups of missing things return ErrNotFound.
type Reader interface {
	Meeting(ctx context.Context, id string) (Meeting, error)
	ListMeetings(ctx context.Context, p Page) ([]Meeting, int, error)

	Participant(ctx context.Context, id string) (Participant, error)
	ParticipantByTokenHash(ctx context.Context, hash []byte) (Participant, error)
	ListParticipants(ctx context.Context, meetingID string, p Page) ([]Participant, int, error)
	// PresetInUse reports whether any current participant has the preset.
	PresetInUse(ctx context.Context, name string) (bool, error)

	Preset(ctx context.Context, name string) (Preset, error)
	ListPresets(ctx context.Context) ([]Preset, error)

	Session(ctx context.Context, id string) (Session, error)
	ListSessions(ctx context.Context, f SessionFilter, p Page) ([]Session, int, error)
	LiveSessions(ctx context.Context) ([]Session, error)
	SessionParticipants(ctx context.Context, sessionID string) ([]SessionParticipant, error)

	// Message returns a message that has not been deleted.
	Message(ctx context.Context, id string) (Message, error)
	// MessageByClientID finds what a participant sent with an idempotency key,
	// including deleted messages (deleted reports that).
	MessageByClientID(ctx context.Context, userID, clientID string) (m Message, deleted bool, err error)
	History(ctx context.Context, q HistoryQuery) ([]Message, error)
	CountMessages(ctx context.Context, q HistoryQuery) (int, error)
	// Search finds messages matching an FTS5 query among those q selects, best first.
	Search(ctx context.Context, q HistoryQuery, match string) ([]Message, error)
	ReadMark(ctx context.Context, participantID string) (int64, error)
	// Reaction returns a reaction and the id of its message.
	Reaction(ctx context.Context, id string) (Reaction, string, error)
	EachSessionMessage(ctx context.Context, sessionID string, fn func(Message) error) error
	// Upload returns an upload that has not been removed.
	Upload(ctx context.Context, id string) (Upload, error)
	// UploadByBlobID finds the upload a blob belongs to, as file or thumbnail.
	UploadByBlobID(ctx context.Context, blobID string) (u Upload, thumb bool, err error)
	// UnusedUploads lists uploads created before cutoff that no message uses.
	UnusedUploads(ctx context.Context, cutoff time.Time, limit int) ([]Upload, error)

	Webhook(ctx context.Context, id string) (Webhook, error)
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// Deliveries lists a webhook's latest deliveries, newest first.
	Deliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error)
	// DueDeliveries lists pending deliveries due by now, oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]DueDelivery, error)
	// NextDeliveryAt is when the next pending delivery is due.
	NextDeliveryAt(ctx context.Context) (time.Time, bool, error)

	// Changes lists a meeting's change log after a seq, oldest first; changes
	// of messages deleted since come back with a nil Frame.
	Changes(ctx context.Context, meetingID string, afterSeq int64, limit int) ([]Change, error)
}

// Tx is the writer's view inside Update.
type Tx interface {
	Reader

	InsertMeeting(ctx context.Context, m Meeting) error
	UpdateMeeting(ctx context.Context, m Meeting) error

	InsertParticipant(ctx context.Context, p Participant, tokenHash []byte) error
	UpdateParticipant(ctx context.Context, p Participant) error
	SetParticipantToken(ctx context.Context, id string, tokenHash []byte, expires time.Time) error
	DeleteParticipant(ctx context.Context, id string, at time.Time) error

	InsertPreset(ctx context.Context, p Preset, at time.Time) error
	UpdatePreset(ctx context.Context, p Preset, at time.Time) error
	DeletePreset(ctx context.Context, name string) error

	InsertSession(ctx context.Context, s Session) error
	EndSession(ctx context.Context, id string, at time.Time) error
	MarkJoined(ctx context.Context, sessionID, participantID string, at time.Time) error
	MarkLeft(ctx context.Context, sessionID, participantID string, at time.Time) error

	InsertMessage(ctx context.Context, m Message) error
	// UpdateMessage stores a message's mutable fields: text, attachment, edited, pinned, seq.
	UpdateMessage(ctx context.Context, m Message) error
	// DeleteMessage removes a message's content and scrubs the frames of
	// its earlier changes, so it is gone from history, resume and export.
	DeleteMessage(ctx context.Context, id string, at time.Time) error

	// InsertReaction adds a reaction, or returns the same one already there.
	InsertReaction(ctx context.Context, messageID string, r Reaction, at time.Time) (Reaction, error)
	DeleteReaction(ctx context.Context, id string) error
	// SetReadMark moves a participant's read mark forward (never back).
	SetReadMark(ctx context.Context, participantID, messageID string, seq int64, at time.Time) error

	InsertUpload(ctx context.Context, u Upload) error
	SetUploadMessage(ctx context.Context, uploadID, messageID string) error
	DeleteUpload(ctx context.Context, id string, at time.Time) error

	InsertWebhook(ctx context.Context, w Webhook) error
	UpdateWebhook(ctx context.Context, w Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
	InsertDelivery(ctx context.Context, d Delivery) error
	UpdateDelivery(ctx context.Context, d Delivery) error

	// NextSeq advances and returns the meeting's change sequence.
	NextSeq(ctx context.Context, meetingID string) (int64, error)
	AppendChange(ctx context.Context, c Change) error

	// AfterCommit registers f to run once this update has committed.
	AfterCommit(f func())
}

// Blobs keeps uploaded bytes under ids parley makes; user-supplied names
// never reach the file system. Package storage implements it on a directory.
type Blobs interface {
	// Create starts a blob. Nothing is visible under id until Commit.
	Create(id string) (BlobWriter, error)
	// Open returns a blob's content.
	Open(id string) (Blob, error)
	// Remove deletes a blob; a missing one is not an error.
	Remove(id string) error
}

// BlobWriter receives a blob's bytes. Commit makes them durable and visible;
// Abort, or any failure, leaves nothing behind.
type BlobWriter interface {
	io.Writer
	Commit() error
	Abort()
}

// Blob is a stored blob, seekable for range requests.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}
