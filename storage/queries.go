package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"parley/chat"
)

// dbtx is what queries need: a pool, or a transaction.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements chat.Reader on a dbtx; writeTx adds the writes.
type queries struct{ q dbtx }

func ms(t time.Time) int64 { return t.UnixMilli() }

func nullMillis(v sql.NullInt64) *chat.Time {
	if !v.Valid {
		return nil
	}
	t := chat.FromMillis(v.Int64)
	return &t
}

// wrap names the failing operation and maps sql.ErrNoRows to chat.ErrNotFound,
// so callers never see database/sql.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("storage: %s: %w", op, chat.ErrNotFound)
	}
	if strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return &chat.Error{Kind: chat.ErrConflict, Code: "conflict", Msg: "already exists: " + op}
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// --- meetings ---

const meetingCols = `id, title, status, persist_chat, picture, metadata, seq, created_at, updated_at`

func scanMeeting(r rowScanner) (chat.Meeting, error) {
	var m chat.Meeting
	var md string
	var created, updated int64
	err := r.Scan(&m.ID, &m.Title, &m.Status, &m.PersistChat, &m.Picture, &md, &m.Seq, &created, &updated)
	if err != nil {
		return m, err
	}
	m.CreatedAt, m.UpdatedAt = chat.FromMillis(created), chat.FromMillis(updated)
	if md != "{}" && md != "" {
		if err := json.Unmarshal([]byte(md), &m.Metadata); err != nil {
			return m, err
		}
	}
	return m, nil
}

func (q queries) Meeting(ctx context.Context, id string) (chat.Meeting, error) {
	m, err := scanMeeting(q.q.QueryRowContext(ctx, `SELECT `+meetingCols+` FROM meetings WHERE id = ?`, id))
	return m, wrap("meeting", err)
}

func (q queries) ListMeetings(ctx context.Context, p chat.Page) ([]chat.Meeting, int, error) {
	var total int
	if err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM meetings`).Scan(&total); err != nil {
		return nil, 0, wrap("count meetings", err)
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+meetingCols+` FROM meetings ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, p.PerPage, p.Offset())
	if err != nil {
		return nil, 0, wrap("list meetings", err)
	}
	out, err := collect(rows, scanMeeting)
	return out, total, wrap("list meetings", err)
}

func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func metadataJSON(md map[string]any) string {
	if len(md) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(md)
	return string(b)
}

func (q *writeTx) InsertMeeting(ctx context.Context, m chat.Meeting) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO meetings (id, title, status, persist_chat, picture, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Title, m.Status, m.PersistChat, m.Picture, metadataJSON(m.Metadata), ms(m.CreatedAt.Time), ms(m.UpdatedAt.Time))
	return wrap("insert meeting", err)
}

func (q *writeTx) UpdateMeeting(ctx context.Context, m chat.Meeting) error {
	_, err := q.q.ExecContext(ctx, `UPDATE meetings SET title = ?, status = ?, persist_chat = ?, picture = ?, metadata = ?, updated_at = ? WHERE id = ?`,
		m.Title, m.Status, m.PersistChat, m.Picture, metadataJSON(m.Metadata), ms(m.UpdatedAt.Time), m.ID)
	return wrap("update meeting", err)
}

func (q *writeTx) NextSeq(ctx context.Context, meetingID string) (int64, error) {
	var seq int64
	err := q.q.QueryRowContext(ctx, `UPDATE meetings SET seq = seq + 1 WHERE id = ? RETURNING seq`, meetingID).Scan(&seq)
	return seq, wrap("next seq", err)
}

// --- participants ---

const participantCols = `id, meeting_id, custom_participant_id, name, picture, preset_name, token_expires_at, created_at, updated_at`

func scanParticipant(r rowScanner) (chat.Participant, error) {
	var p chat.Participant
	var exp, created, updated int64
	err := r.Scan(&p.ID, &p.MeetingID, &p.CustomParticipantID, &p.Name, &p.Picture, &p.PresetName, &exp, &created, &updated)
	p.TokenExpiresAt, p.CreatedAt, p.UpdatedAt = chat.FromMillis(exp), chat.FromMillis(created), chat.FromMillis(updated)
	return p, err
}

func (q queries) Participant(ctx context.Context, id string) (chat.Participant, error) {
	p, err := scanParticipant(q.q.QueryRowContext(ctx, `SELECT `+participantCols+` FROM participants WHERE id = ? AND deleted_at IS NULL`, id))
	return p, wrap("participant", err)
}

func (q queries) ParticipantByTokenHash(ctx context.Context, hash []byte) (chat.Participant, error) {
	p, err := scanParticipant(q.q.QueryRowContext(ctx, `SELECT `+participantCols+` FROM participants WHERE token_hash = ? AND deleted_at IS NULL`, hash))
	return p, wrap("participant by token", err)
}

func (q queries) ListParticipants(ctx context.Context, meetingID string, p chat.Page) ([]chat.Participant, int, error) {
	var total int
	if err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM participants WHERE meeting_id = ? AND deleted_at IS NULL`, meetingID).Scan(&total); err != nil {
		return nil, 0, wrap("count participants", err)
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+participantCols+` FROM participants WHERE meeting_id = ? AND deleted_at IS NULL ORDER BY created_at, id LIMIT ? OFFSET ?`, meetingID, p.PerPage, p.Offset())
	if err != nil {
		return nil, 0, wrap("list participants", err)
	}
	out, err := collect(rows, scanParticipant)
	return out, total, wrap("list participants", err)
}

func (q queries) PresetInUse(ctx context.Context, name string) (bool, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM participants WHERE preset_name = ? AND deleted_at IS NULL`, name).Scan(&n)
	return n > 0, wrap("preset in use", err)
}

func (q *writeTx) InsertParticipant(ctx context.Context, p chat.Participant, tokenHash []byte) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO participants (id, meeting_id, custom_participant_id, name, picture, preset_name, token_hash, token_expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.MeetingID, p.CustomParticipantID, p.Name, p.Picture, p.PresetName, tokenHash, ms(p.TokenExpiresAt.Time), ms(p.CreatedAt.Time), ms(p.UpdatedAt.Time))
	return wrap("participant with this custom_participant_id", err)
}

func (q *writeTx) UpdateParticipant(ctx context.Context, p chat.Participant) error {
	_, err := q.q.ExecContext(ctx, `UPDATE participants SET name = ?, picture = ?, preset_name = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Picture, p.PresetName, ms(p.UpdatedAt.Time), p.ID)
	return wrap("update participant", err)
}

func (q *writeTx) SetParticipantToken(ctx context.Context, id string, hash []byte, expires time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE participants SET token_hash = ?, token_expires_at = ? WHERE id = ?`, hash, ms(expires), id)
	return wrap("set token", err)
}

func (q *writeTx) DeleteParticipant(ctx context.Context, id string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE participants SET token_hash = NULL, deleted_at = ? WHERE id = ?`, ms(at), id)
	return wrap("delete participant", err)
}

// --- presets ---

func scanPreset(r rowScanner) (chat.Preset, error) {
	var p chat.Preset
	var perms string
	if err := r.Scan(&p.Name, &perms, &p.BuiltIn); err != nil {
		return p, err
	}
	return p, json.Unmarshal([]byte(perms), &p.Chat)
}

func (q queries) Preset(ctx context.Context, name string) (chat.Preset, error) {
	p, err := scanPreset(q.q.QueryRowContext(ctx, `SELECT name, perms, built_in FROM presets WHERE name = ?`, name))
	return p, wrap("preset", err)
}

func (q queries) ListPresets(ctx context.Context) ([]chat.Preset, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT name, perms, built_in FROM presets ORDER BY built_in DESC, name`)
	if err != nil {
		return nil, wrap("list presets", err)
	}
	out, err := collect(rows, scanPreset)
	return out, wrap("list presets", err)
}

func (q *writeTx) InsertPreset(ctx context.Context, p chat.Preset, at time.Time) error {
	perms, _ := json.Marshal(p.Chat)
	_, err := q.q.ExecContext(ctx, `INSERT INTO presets (name, perms, built_in, created_at, updated_at) VALUES (?, ?, 0, ?, ?)`, p.Name, string(perms), ms(at), ms(at))
	return wrap("preset", err)
}

func (q *writeTx) UpdatePreset(ctx context.Context, p chat.Preset, at time.Time) error {
	perms, _ := json.Marshal(p.Chat)
	_, err := q.q.ExecContext(ctx, `UPDATE presets SET perms = ?, updated_at = ? WHERE name = ?`, string(perms), ms(at), p.Name)
	return wrap("update preset", err)
}

func (q *writeTx) DeletePreset(ctx context.Context, name string) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM presets WHERE name = ? AND built_in = 0`, name)
	return wrap("delete preset", err)
}

// --- sessions ---

const sessionCols = `id, meeting_id, status, started_at, ended_at`

func scanSession(r rowScanner) (chat.Session, error) {
	var s chat.Session
	var started int64
	var ended sql.NullInt64
	err := r.Scan(&s.ID, &s.MeetingID, &s.Status, &started, &ended)
	s.StartedAt, s.EndedAt = chat.FromMillis(started), nullMillis(ended)
	return s, err
}

func (q queries) Session(ctx context.Context, id string) (chat.Session, error) {
	s, err := scanSession(q.q.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	return s, wrap("session", err)
}

func (q queries) ListSessions(ctx context.Context, f chat.SessionFilter, p chat.Page) ([]chat.Session, int, error) {
	where := ` WHERE (? = '' OR meeting_id = ?) AND (? = '' OR status = ?)`
	args := []any{f.MeetingID, f.MeetingID, f.Status, f.Status}
	var total int
	if err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM sessions`+where, args...).Scan(&total); err != nil {
		return nil, 0, wrap("count sessions", err)
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions`+where+` ORDER BY started_at DESC, id LIMIT ? OFFSET ?`, append(args, p.PerPage, p.Offset())...)
	if err != nil {
		return nil, 0, wrap("list sessions", err)
	}
	out, err := collect(rows, scanSession)
	return out, total, wrap("list sessions", err)
}

func (q queries) LiveSessions(ctx context.Context) ([]chat.Session, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE status = 'LIVE'`)
	if err != nil {
		return nil, wrap("live sessions", err)
	}
	out, err := collect(rows, scanSession)
	return out, wrap("live sessions", err)
}

func (q queries) SessionParticipants(ctx context.Context, sessionID string) ([]chat.SessionParticipant, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT p.id, p.custom_participant_id, p.name, p.preset_name, sp.joined_at, sp.left_at
		FROM session_participants sp JOIN participants p ON p.id = sp.participant_id
		WHERE sp.session_id = ? ORDER BY sp.joined_at, p.id`, sessionID)
	if err != nil {
		return nil, wrap("session participants", err)
	}
	out, err := collect(rows, func(r rowScanner) (chat.SessionParticipant, error) {
		var sp chat.SessionParticipant
		var joined int64
		var left sql.NullInt64
		err := r.Scan(&sp.ParticipantID, &sp.CustomParticipantID, &sp.Name, &sp.PresetName, &joined, &left)
		sp.JoinedAt, sp.LeftAt = chat.FromMillis(joined), nullMillis(left)
		return sp, err
	})
	return out, wrap("session participants", err)
}

func (q *writeTx) InsertSession(ctx context.Context, s chat.Session) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO sessions (id, meeting_id, status, started_at) VALUES (?, ?, 'LIVE', ?)`, s.ID, s.MeetingID, ms(s.StartedAt.Time))
	return wrap("insert session", err)
}

func (q *writeTx) EndSession(ctx context.Context, id string, at time.Time) error {
	if _, err := q.q.ExecContext(ctx, `UPDATE sessions SET status = 'ENDED', ended_at = ? WHERE id = ? AND status = 'LIVE'`, ms(at), id); err != nil {
		return wrap("end session", err)
	}
	_, err := q.q.ExecContext(ctx, `UPDATE session_participants SET left_at = ? WHERE session_id = ? AND left_at IS NULL`, ms(at), id)
	return wrap("end session", err)
}

func (q *writeTx) MarkJoined(ctx context.Context, sessionID, participantID string, at time.Time) error {
	// A rejoin keeps the first joined_at and clears left_at.
	_, err := q.q.ExecContext(ctx, `INSERT INTO session_participants (session_id, participant_id, joined_at) VALUES (?, ?, ?)
		ON CONFLICT (session_id, participant_id) DO UPDATE SET left_at = NULL`, sessionID, participantID, ms(at))
	return wrap("mark joined", err)
}

func (q *writeTx) MarkLeft(ctx context.Context, sessionID, participantID string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE session_participants SET left_at = ? WHERE session_id = ? AND participant_id = ?`, ms(at), sessionID, participantID)
	return wrap("mark left", err)
}

// --- messages ---

const messageCols = `m.id, m.meeting_id, m.session_id, m.user_id, m.display_name, m.type, m.body, m.targets, m.reply_to, m.metadata, m.client_id, m.is_edited, m.pinned, m.created_at, m.created_seq, m.seq,
	m.upload_id, m.link, m.thumbnail, m.width, m.height, m.file_name, m.file_size`

func scanMessage(r rowScanner) (chat.Message, error) {
	var m chat.Message
	var targets, replyTo, clientID, uploadID sql.NullString
	var md string
	var created int64
	err := r.Scan(&m.ID, &m.MeetingID, &m.SessionID, &m.UserID, &m.DisplayName, &m.Type, &m.Message, &targets, &replyTo, &md, &clientID, &m.IsEdited, &m.Pinned, &created, &m.CreatedSeq, &m.Seq,
		&uploadID, &m.Link, &m.Thumbnail, &m.Width, &m.Height, &m.Name, &m.Size)
	if err != nil {
		return m, err
	}
	m.UploadID = uploadID.String
	m.Time = chat.FromMillis(created)
	m.ClientID = clientID.String
	if replyTo.Valid {
		m.ReplyTo = &replyTo.String
	}
	if targets.Valid {
		if err := json.Unmarshal([]byte(targets.String), &m.TargetUserIDs); err != nil {
			return m, err
		}
	}
	m.Metadata = map[string]any{}
	if err := json.Unmarshal([]byte(md), &m.Metadata); err != nil {
		return m, err
	}
	m.Reactions = []chat.Reaction{}
	return m, nil
}

func (q queries) Message(ctx context.Context, id string) (chat.Message, error) {
	m, err := scanMessage(q.q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.id = ? AND m.deleted_at IS NULL`, id))
	if err != nil {
		return m, wrap("message", err)
	}
	msgs := []chat.Message{m}
	err = q.decorate(ctx, msgs, "")
	return msgs[0], err
}

func (q queries) MessageByClientID(ctx context.Context, userID, clientID string) (chat.Message, bool, error) {
	var deleted sql.NullInt64
	row := q.q.QueryRowContext(ctx, `SELECT `+messageCols+`, m.deleted_at FROM messages m WHERE m.user_id = ? AND m.client_id = ?`, userID, clientID)
	m, err := scanMessage(extraScanner{r: row, extra: &deleted})
	return m, deleted.Valid, wrap("message by client id", err)
}

// extraScanner scans one more column after the ones asked for.
type extraScanner struct {
	r     rowScanner
	extra any
}

func (e extraScanner) Scan(dest ...any) error { return e.r.Scan(append(dest, e.extra)...) }

// visibleWhere builds the WHERE clause for what a viewer may see of a
// meeting: public messages, its own, and private ones addressed to it.
func visibleWhere(h chat.HistoryQuery) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add(`m.meeting_id = ? AND m.deleted_at IS NULL`, h.MeetingID)
	add(`(m.targets IS NULL OR m.user_id = ? OR EXISTS (SELECT 1 FROM message_targets t WHERE t.message_id = m.id AND t.user_id = ?))`, h.ViewerID, h.ViewerID)
	if h.SessionID != "" {
		add(`m.session_id = ?`, h.SessionID)
	}
	if h.WithUserID != "" {
		add(`m.targets IS NOT NULL AND ((m.user_id = ? AND EXISTS (SELECT 1 FROM message_targets t WHERE t.message_id = m.id AND t.user_id = ?))
			OR (m.user_id = ? AND EXISTS (SELECT 1 FROM message_targets t WHERE t.message_id = m.id AND t.user_id = ?)))`,
			h.ViewerID, h.WithUserID, h.WithUserID, h.ViewerID)
	}
	if h.Pinned {
		add(`m.pinned = 1`)
	}
	if h.UserID != "" {
		add(`m.user_id = ?`, h.UserID)
	}
	if h.ExcludeUserID != "" {
		add(`m.user_id != ?`, h.ExcludeUserID)
	}
	if h.Type != "" {
		add(`m.type = ?`, h.Type)
	}
	switch {
	case h.BeforeSeq > 0:
		add(`m.created_seq < ?`, h.BeforeSeq)
	case h.AfterSeq > 0:
		add(`m.created_seq > ?`, h.AfterSeq)
	case !h.BeforeTime.IsZero():
		add(`m.created_at < ?`, ms(h.BeforeTime))
	case !h.AfterTime.IsZero():
		add(`m.created_at > ?`, ms(h.AfterTime))
	}
	return strings.Join(where, " AND "), args
}

// History selects, in SQL, the messages the viewer may see, oldest first,
// with their reactions and the viewer's read state.
func (q queries) History(ctx context.Context, h chat.HistoryQuery) ([]chat.Message, error) {
	where, args := visibleWhere(h)
	asc := h.AfterSeq > 0 || !h.AfterTime.IsZero()
	order := "DESC"
	if asc {
		order = "ASC"
	}
	args = append(args, h.Limit, h.Offset)
	rows, err := q.q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE `+where+` ORDER BY m.created_seq `+order+` LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, wrap("history", err)
	}
	out, err := collect(rows, scanMessage)
	if err != nil {
		return nil, wrap("history", err)
	}
	if !asc {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, q.decorate(ctx, out, h.ViewerID)
}

// CountMessages counts what History would return without a limit.
func (q queries) CountMessages(ctx context.Context, h chat.HistoryQuery) (int, error) {
	where, args := visibleWhere(h)
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM messages m WHERE `+where, args...).Scan(&n)
	return n, wrap("count messages", err)
}

// decorate adds reactions (one query for all the messages) and, when
// there is a viewer, its read state.
func (q queries) decorate(ctx context.Context, msgs []chat.Message, viewerID string) error {
	if len(msgs) == 0 {
		return nil
	}
	index := make(map[string]int, len(msgs))
	ids := make([]any, len(msgs))
	for i := range msgs {
		index[msgs[i].ID] = i
		ids[i] = msgs[i].ID
	}
	rows, err := q.q.QueryContext(ctx, `SELECT id, message_id, user_id, reaction FROM reactions WHERE message_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY created_at, id`, ids...)
	if err != nil {
		return wrap("reactions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r chat.Reaction
		var mid string
		if err := rows.Scan(&r.ReactionID, &mid, &r.UserID, &r.Reaction); err != nil {
			return wrap("reactions", err)
		}
		m := &msgs[index[mid]]
		m.Reactions = append(m.Reactions, r)
	}
	if err := rows.Err(); err != nil {
		return wrap("reactions", err)
	}
	if viewerID == "" {
		return nil
	}
	mark, err := q.ReadMark(ctx, viewerID)
	if err != nil {
		return err
	}
	for i := range msgs {
		msgs[i].Read = msgs[i].UserID == viewerID || msgs[i].CreatedSeq <= mark
	}
	return nil
}

// Search finds visible messages matching a full-text query, best first.
func (q queries) Search(ctx context.Context, h chat.HistoryQuery, match string) ([]chat.Message, error) {
	where, args := visibleWhere(h)
	args = append([]any{match}, args...)
	args = append(args, h.Limit)
	rows, err := q.q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages_fts f JOIN messages m ON m.id = f.message_id
		WHERE messages_fts MATCH ? AND `+where+` ORDER BY bm25(messages_fts), m.created_seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, wrap("search", err)
	}
	out, err := collect(rows, scanMessage)
	if err != nil {
		return nil, wrap("search", err)
	}
	return out, q.decorate(ctx, out, h.ViewerID)
}

// ReadMark is the creation seq up to which a participant has read (0: none).
func (q queries) ReadMark(ctx context.Context, participantID string) (int64, error) {
	var seq int64
	err := q.q.QueryRowContext(ctx, `SELECT seq FROM read_marks WHERE participant_id = ?`, participantID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, wrap("read mark", err)
}

func (q queries) Reaction(ctx context.Context, id string) (chat.Reaction, string, error) {
	var r chat.Reaction
	var mid string
	err := q.q.QueryRowContext(ctx, `SELECT id, message_id, user_id, reaction FROM reactions WHERE id = ?`, id).Scan(&r.ReactionID, &mid, &r.UserID, &r.Reaction)
	return r, mid, wrap("reaction", err)
}

func (q *writeTx) InsertReaction(ctx context.Context, messageID string, r chat.Reaction, at time.Time) (chat.Reaction, error) {
	// The same reaction twice is one: the first one's id comes back.
	err := q.q.QueryRowContext(ctx, `INSERT INTO reactions (id, message_id, user_id, reaction, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (message_id, user_id, reaction) DO UPDATE SET reaction = excluded.reaction RETURNING id`,
		r.ReactionID, messageID, r.UserID, r.Reaction, ms(at)).Scan(&r.ReactionID)
	return r, wrap("insert reaction", err)
}

func (q *writeTx) DeleteReaction(ctx context.Context, id string) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM reactions WHERE id = ?`, id)
	return wrap("delete reaction", err)
}

func (q *writeTx) SetReadMark(ctx context.Context, participantID, messageID string, seq int64, at time.Time) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO read_marks (participant_id, seq, message_id, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (participant_id) DO UPDATE SET seq = excluded.seq, message_id = excluded.message_id, updated_at = excluded.updated_at
		WHERE excluded.seq > read_marks.seq`, participantID, seq, messageID, ms(at))
	return wrap("set read mark", err)
}

// ftsBody is what the index knows of a message: its text, or a file's name.
func ftsBody(m chat.Message) string {
	if m.Type == chat.TypeFile {
		return m.Name
	}
	return m.Message
}

// indexMessage keeps a message's full-text entry in step with its text:
// nothing happens when the indexed text is unchanged (pins, reactions).
func (q *writeTx) indexMessage(ctx context.Context, m chat.Message, isNew bool) error {
	body := ftsBody(m)
	if !isNew {
		var old string
		var rowid sql.NullInt64
		err := q.q.QueryRowContext(ctx, `SELECT CASE type WHEN 'file' THEN file_name ELSE body END, fts_rowid FROM messages WHERE id = ?`, m.ID).Scan(&old, &rowid)
		if err != nil {
			return wrap("index message", err)
		}
		if old == body && rowid.Valid == (body != "") {
			return nil
		}
		if err := q.unindex(ctx, rowid); err != nil {
			return err
		}
	}
	var rowid any
	if body != "" {
		res, err := q.q.ExecContext(ctx, `INSERT INTO messages_fts (body, message_id) VALUES (?, ?)`, body, m.ID)
		if err != nil {
			return wrap("index message", err)
		}
		if rowid, err = res.LastInsertId(); err != nil {
			return wrap("index message", err)
		}
	}
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET fts_rowid = ? WHERE id = ?`, rowid, m.ID)
	return wrap("index message", err)
}

func (q *writeTx) unindex(ctx context.Context, rowid sql.NullInt64) error {
	if !rowid.Valid {
		return nil
	}
	_, err := q.q.ExecContext(ctx, `DELETE FROM messages_fts WHERE rowid = ?`, rowid.Int64)
	return wrap("unindex message", err)
}

func (q queries) EachSessionMessage(ctx context.Context, sessionID string, fn func(chat.Message) error) error {
	rows, err := q.q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.session_id = ? AND m.deleted_at IS NULL ORDER BY m.created_seq`, sessionID)
	if err != nil {
		return wrap("session messages", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return wrap("session messages", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return wrap("session messages", rows.Err())
}

func (q *writeTx) InsertMessage(ctx context.Context, m chat.Message) error {
	var targets, replyTo, clientID any
	if m.Private() {
		b, _ := json.Marshal(m.TargetUserIDs)
		targets = string(b)
	}
	if m.ReplyTo != nil {
		replyTo = *m.ReplyTo
	}
	if m.ClientID != "" {
		clientID = m.ClientID
	}
	var uploadID any
	if m.UploadID != "" {
		uploadID = m.UploadID
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO messages (id, meeting_id, session_id, user_id, display_name, type, body, targets, reply_to, metadata, client_id, is_edited, pinned, created_at, created_seq, seq,
			upload_id, link, thumbnail, width, height, file_name, file_size)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.MeetingID, m.SessionID, m.UserID, m.DisplayName, m.Type, m.Message, targets, replyTo, metadataJSON(m.Metadata), clientID, m.IsEdited, m.Pinned, ms(m.Time.Time), m.CreatedSeq, m.Seq,
		uploadID, m.Link, m.Thumbnail, m.Width, m.Height, m.Name, m.Size)
	if err != nil {
		return wrap("insert message", err)
	}
	for _, t := range m.TargetUserIDs {
		if _, err := q.q.ExecContext(ctx, `INSERT INTO message_targets (message_id, user_id) VALUES (?, ?)`, m.ID, t); err != nil {
			return wrap("insert message target", err)
		}
	}
	return q.indexMessage(ctx, m, true)
}

func (q *writeTx) UpdateMessage(ctx context.Context, m chat.Message) error {
	// The index compares against the stored text, so it goes first.
	if err := q.indexMessage(ctx, m, false); err != nil {
		return err
	}
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET body = ?, is_edited = ?, pinned = ?, seq = ?,
		upload_id = ?, link = ?, thumbnail = ?, width = ?, height = ?, file_name = ?, file_size = ? WHERE id = ?`,
		m.Message, m.IsEdited, m.Pinned, m.Seq, m.UploadID, m.Link, m.Thumbnail, m.Width, m.Height, m.Name, m.Size, m.ID)
	return wrap("update message", err)
}

func (q *writeTx) DeleteMessage(ctx context.Context, id string, at time.Time) error {
	var rowid sql.NullInt64
	if err := q.q.QueryRowContext(ctx, `SELECT fts_rowid FROM messages WHERE id = ?`, id).Scan(&rowid); err != nil {
		return wrap("delete message", err)
	}
	if err := q.unindex(ctx, rowid); err != nil {
		return err
	}
	if _, err := q.q.ExecContext(ctx, `UPDATE messages SET body = '', metadata = '{}', pinned = 0, link = '', thumbnail = '', file_name = '', deleted_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return wrap("delete message", err)
	}
	for _, stmt := range []string{
		`UPDATE changes SET frame = NULL WHERE message_id = ?`,
		`UPDATE messages SET fts_rowid = NULL WHERE id = ?`,
		`DELETE FROM reactions WHERE message_id = ?`,
	} {
		if _, err := q.q.ExecContext(ctx, stmt, id); err != nil {
			return wrap("delete message", err)
		}
	}
	return nil
}

// --- change log ---

func (q *writeTx) AppendChange(ctx context.Context, c chat.Change) error {
	var audience any
	if c.Audience != nil {
		b, _ := json.Marshal(c.Audience)
		audience = string(b)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO changes (meeting_id, seq, message_id, event, audience, frame) VALUES (?, ?, ?, ?, ?, ?)`,
		c.MeetingID, c.Seq, c.MessageID, c.Event, audience, c.Frame)
	return wrap("append change", err)
}

func (q queries) Changes(ctx context.Context, meetingID string, afterSeq int64, limit int) ([]chat.Change, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT seq, message_id, event, audience, frame FROM changes WHERE meeting_id = ? AND seq > ? ORDER BY seq LIMIT ?`, meetingID, afterSeq, limit)
	if err != nil {
		return nil, wrap("changes", err)
	}
	out, err := collect(rows, func(r rowScanner) (chat.Change, error) {
		c := chat.Change{MeetingID: meetingID}
		var audience sql.NullString
		if err := r.Scan(&c.Seq, &c.MessageID, &c.Event, &audience, &c.Frame); err != nil {
			return c, err
		}
		if audience.Valid {
			if err := json.Unmarshal([]byte(audience.String), &c.Audience); err != nil {
				return c, err
			}
		}
		return c, nil
	})
	return out, wrap("changes", err)
}

// --- uploads ---

const uploadCols = `id, thumb_id, meeting_id, user_id, name, size, mime, width, height, created_at, message_id`

func scanUpload(r rowScanner) (chat.Upload, error) {
	var u chat.Upload
	var thumb, msg sql.NullString
	var created int64
	err := r.Scan(&u.ID, &thumb, &u.MeetingID, &u.UserID, &u.Name, &u.Size, &u.Mime, &u.Width, &u.Height, &created, &msg)
	u.ThumbID, u.MessageID, u.CreatedAt = thumb.String, msg.String, chat.FromMillis(created)
	return u, err
}

func (q queries) Upload(ctx context.Context, id string) (chat.Upload, error) {
	u, err := scanUpload(q.q.QueryRowContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = ? AND deleted_at IS NULL`, id))
	return u, wrap("upload", err)
}

func (q queries) UploadByBlobID(ctx context.Context, blobID string) (chat.Upload, bool, error) {
	u, err := scanUpload(q.q.QueryRowContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE (id = ? OR thumb_id = ?) AND deleted_at IS NULL`, blobID, blobID))
	return u, err == nil && u.ThumbID == blobID, wrap("upload by blob", err)
}

func (q queries) UnusedUploads(ctx context.Context, cutoff time.Time, limit int) ([]chat.Upload, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE message_id IS NULL AND deleted_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?`, ms(cutoff), limit)
	if err != nil {
		return nil, wrap("unused uploads", err)
	}
	out, err := collect(rows, scanUpload)
	return out, wrap("unused uploads", err)
}

func (q *writeTx) InsertUpload(ctx context.Context, u chat.Upload) error {
	var thumb any
	if u.ThumbID != "" {
		thumb = u.ThumbID
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO uploads (id, thumb_id, meeting_id, user_id, name, size, mime, width, height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, thumb, u.MeetingID, u.UserID, u.Name, u.Size, u.Mime, u.Width, u.Height, ms(u.CreatedAt.Time))
	return wrap("insert upload", err)
}

func (q *writeTx) SetUploadMessage(ctx context.Context, uploadID, messageID string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE uploads SET message_id = ? WHERE id = ?`, messageID, uploadID)
	return wrap("set upload message", err)
}

func (q *writeTx) DeleteUpload(ctx context.Context, id string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE uploads SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, ms(at), id)
	return wrap("delete upload", err)
}
