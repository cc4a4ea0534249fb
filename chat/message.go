package chat

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// SendRequest is the data of chat.send.
type SendRequest struct {
	Type          string         `json:"type"`
	Message       string         `json:"message"`
	UploadID      string         `json:"upload_id"`
	TargetUserIDs []string       `json:"target_user_ids"`
	ReplyTo       string         `json:"reply_to"`
	Metadata      map[string]any `json:"metadata"`
	ClientID      string         `json:"client_id"`
}

// EditRequest is the data of chat.edit.
type EditRequest struct {
	ID       string `json:"id"`
	Message  string `json:"message"`
	UploadID string `json:"upload_id"`
}

// IDRequest is the data of operations that name one message.
type IDRequest struct {
	ID string `json:"id"`
}

// DeleteResult is the reply to chat.delete.
type DeleteResult struct {
	ID  string `json:"id"`
	Seq int64  `json:"seq"`
}

// HistoryRequest is the data of chat.history. Before and After are a
// timestamp in unix milliseconds or a message id.
type HistoryRequest struct {
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	Limit      int             `json:"limit"`
	WithUserID string          `json:"with_user_id"`
	Pinned     bool            `json:"pinned"`
	UserID     string          `json:"user_id"`
	Type       string          `json:"type"`
}

// HistoryResult is the reply to chat.history.
type HistoryResult struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

// perms returns the client's participant and its preset's permissions,
// refusing a token that has expired since the connection was made.
func (c *Client) perms(ctx context.Context) (Participant, ChatPerms, error) {
	p := c.Participant()
	if !c.hub.clock.Now().Before(p.TokenExpiresAt.Time) {
		return p, ChatPerms{}, errorf(ErrUnauthorized, "unauthorized", "token expired")
	}
	pr, err := c.hub.store.Preset(ctx, p.PresetName)
	if err != nil {
		return p, ChatPerms{}, err
	}
	return p, pr.Chat, nil
}

// Send stores a new message and delivers it to everyone allowed to see it.
func (c *Client) Send(ctx context.Context, req SendRequest) (Message, error) {
	h := c.hub
	p, perms, err := c.perms(ctx)
	if err != nil {
		return Message{}, err
	}
	if req.ClientID != "" {
		if len(req.ClientID) > 128 {
			return Message{}, errorf(ErrInvalid, "invalid_request", "client_id is longer than 128 bytes")
		}
		if m, ok, err := h.sentBefore(ctx, h.store, p.ID, req.ClientID); ok || err != nil {
			return m, err
		}
	}
	if err := h.checkSend(ctx, p, perms, req); err != nil {
		return Message{}, err
	}
	if err := h.take(c.meetingID, p.ID, KindMessages); err != nil {
		return Message{}, err
	}
	// A connected sender keeps the session live; for one that isn't (the
	// HTTP API) it is started if need be. Reading it here, outside the
	// update, keeps the writer from ever waiting on a room lock.
	sessionID, err := h.sessionFor(ctx, c)
	if err != nil {
		return Message{}, err
	}
	var out Message
	err = h.store.Update(ctx, func(tx Tx) error {
		if req.ClientID != "" {
			// A retry may have raced the first attempt into the same batch.
			if m, ok, err := h.sentBefore(ctx, tx, p.ID, req.ClientID); ok || err != nil {
				out = m
				return err
			}
		}
		if req.ReplyTo != "" {
			if _, err := visibleMessage(ctx, tx, c.meetingID, p.ID, req.ReplyTo); err != nil {
				return err
			}
		}
		typ := req.Type
		if typ == "" {
			typ = TypeText
		}
		m := Message{
			ID: NewID(), Type: typ, UserID: p.ID, DisplayName: p.Name,
			Time: At(h.clock.Now()), Message: req.Message, TargetUserIDs: req.TargetUserIDs,
			Reactions: []Reaction{}, Metadata: req.Metadata, SessionID: sessionID,
			MeetingID: c.meetingID, ClientID: req.ClientID,
		}
		if m.Metadata == nil {
			m.Metadata = map[string]any{}
		}
		if req.ReplyTo != "" {
			m.ReplyTo = &req.ReplyTo
		}
		if typ != TypeText {
			u, err := usableUpload(ctx, tx, p, req.UploadID, typ)
			if err != nil {
				return err
			}
			h.attach(&m, u)
			if err := tx.SetUploadMessage(ctx, u.ID, m.ID); err != nil {
				return err
			}
		}
		seq, err := h.commitChange(ctx, tx, m.MeetingID, m.ID, "chat.message", m.audience(), func(seq int64) any {
			m.Seq, m.CreatedSeq = seq, seq
			return m
		})
		if err != nil {
			return err
		}
		m.Seq, m.CreatedSeq = seq, seq
		if err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		out = m
		return nil
	})
	return out, err
}

// sentBefore finds the result of an earlier send with the same client_id.
func (h *Hub) sentBefore(ctx context.Context, r Reader, userID, clientID string) (Message, bool, error) {
	m, deleted, err := r.MessageByClientID(ctx, userID, clientID)
	if isNotFound(err) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, true, err
	}
	if deleted {
		return Message{}, true, errorf(ErrNotFound, "not_found", "the message sent with this client_id was deleted")
	}
	return m, true, nil
}

// checkSend validates a send against permissions and limits, reading only.
func (h *Hub) checkSend(ctx context.Context, p Participant, perms ChatPerms, req SendRequest) error {
	private := req.TargetUserIDs != nil
	file := req.Type == TypeImage || req.Type == TypeFile
	switch {
	case req.Type != TypeText && req.Type != "" && !file:
		return errorf(ErrInvalid, "invalid_request", "type must be text, image or file")
	case !file && req.UploadID != "":
		return errorf(ErrInvalid, "invalid_request", "upload_id is only for image and file messages")
	case file && req.UploadID == "":
		return errorf(ErrInvalid, "invalid_request", "%s messages need an upload_id from POST /v2/uploads", req.Type)
	case file && req.Message != "":
		return errorf(ErrInvalid, "invalid_request", "%s messages carry no text", req.Type)
	case private && !file && !(perms.Private.CanSend && perms.Private.Text):
		return errorf(ErrForbidden, "forbidden", "your preset may not send private text messages")
	case !private && !file && !(perms.Public.CanSend && perms.Public.Text):
		return errorf(ErrForbidden, "forbidden", "your preset may not send text messages")
	case private && file && !(perms.Private.CanSend && perms.Private.Files):
		return errorf(ErrForbidden, "forbidden", "your preset may not send private files")
	case !private && file && !(perms.Public.CanSend && perms.Public.Files):
		return errorf(ErrForbidden, "forbidden", "your preset may not send files")
	}
	if file {
		if _, err := usableUpload(ctx, h.store, p, req.UploadID, req.Type); err != nil {
			return err
		}
	} else if err := h.checkText(req.Message); err != nil {
		return err
	}
	if err := h.checkMetadata(req.Metadata); err != nil {
		return err
	}
	if private {
		if err := h.checkTargets(ctx, p, req.TargetUserIDs); err != nil {
			return err
		}
	}
	if req.ReplyTo != "" {
		if _, err := visibleMessage(ctx, h.store, p.MeetingID, p.ID, req.ReplyTo); err != nil {
			return err
		}
	}
	return nil
}

func (h *Hub) checkText(s string) error {
	if strings.TrimSpace(s) == "" {
		return errorf(ErrInvalid, "invalid_request", "message must not be empty")
	}
	if n := utf8.RuneCountInString(s); n > h.cfg.MaxTextLength {
		return errorf(ErrInvalid, "text_too_long", "message has %d characters; the limit is %d", n, h.cfg.MaxTextLength)
	}
	return nil
}

// checkMetadata allows a flat object of strings, numbers and booleans.
func (h *Hub) checkMetadata(md map[string]any) error {
	for k, v := range md {
		switch v.(type) {
		case string, float64, bool, json.Number:
		default:
			return errorf(ErrInvalid, "invalid_request", "metadata %q must be a string, number or boolean", k)
		}
	}
	if md != nil {
		b, _ := json.Marshal(md)
		if len(b) > h.cfg.MaxMetadataBytes {
			return errorf(ErrInvalid, "invalid_request", "metadata is %d bytes; the limit is %d", len(b), h.cfg.MaxMetadataBytes)
		}
	}
	return nil
}

// checkTargets requires private recipients to be distinct participants of
// the meeting, other than the sender, whose preset lets them receive.
func (h *Hub) checkTargets(ctx context.Context, p Participant, targets []string) error {
	if len(targets) == 0 {
		return errorf(ErrInvalid, "invalid_request", "target_user_ids must name at least one participant")
	}
	if len(targets) > 100 {
		return errorf(ErrInvalid, "invalid_request", "at most 100 target_user_ids")
	}
	seen := map[string]bool{}
	for _, id := range targets {
		if seen[id] || id == p.ID {
			return errorf(ErrInvalid, "invalid_request", "target_user_ids must be distinct and not include yourself")
		}
		seen[id] = true
		t, err := h.store.Participant(ctx, id)
		if isNotFound(err) || (err == nil && t.MeetingID != p.MeetingID) {
			return errorf(ErrNotFound, "not_found", "participant %s is not in this meeting", id)
		}
		if err != nil {
			return err
		}
		tp, err := h.store.Preset(ctx, t.PresetName)
		if err != nil {
			return err
		}
		if !tp.Chat.Private.CanReceive {
			return errorf(ErrForbidden, "forbidden", "participant %s may not receive private messages", id)
		}
	}
	return nil
}

// visibleMessage loads a message of the meeting that the viewer may see;
// anything else is not found, so ids of other meetings reveal nothing.
func visibleMessage(ctx context.Context, r Reader, meetingID, viewerID, id string) (Message, error) {
	m, err := r.Message(ctx, id)
	if err == nil && (m.MeetingID != meetingID || !m.VisibleTo(viewerID)) {
		err = ErrNotFound
	}
	if isNotFound(err) {
		return Message{}, errorf(ErrNotFound, "not_found", "no message %s", id)
	}
	return m, err
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// liveSessionID is the session messages sent now belong to.
func (h *Hub) liveSessionID(meetingID string) (string, error) {
	r := h.lookupRoom(meetingID)
	if r != nil {
		r.life.Lock()
		defer r.life.Unlock()
		if r.session != nil {
			return r.session.ID, nil
		}
	}
	return "", errorf(ErrConflict, "no_session", "the meeting has no live session")
}

// sessionFor is the session a client's message belongs to. A client
// without a connection (the HTTP API) starts one when none is live, which
// ends a keep-alive later like any other.
func (h *Hub) sessionFor(ctx context.Context, c *Client) (string, error) {
	if c.conn != nil {
		return h.liveSessionID(c.meetingID)
	}
	r := c.room
	r.life.Lock()
	defer r.life.Unlock()
	if r.session != nil {
		return r.session.ID, nil
	}
	meeting, err := h.store.Meeting(ctx, c.meetingID)
	if err != nil {
		return "", err
	}
	if meeting.Status != StatusActive {
		return "", errorf(ErrForbidden, "meeting_inactive", "the meeting is not active")
	}
	s := Session{ID: NewID(), MeetingID: r.id, Status: SessionLive, StartedAt: At(h.clock.Now())}
	err = h.store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertSession(ctx, s); err != nil {
			return err
		}
		return h.enqueue(ctx, tx, EventMeetingStarted, eventPayload{Event: EventMeetingStarted, Meeting: meetingOf(meeting, s)})
	})
	if err != nil {
		return "", err
	}
	r.session = &s
	if len(r.online) == 0 {
		h.scheduleEnd(r)
	}
	return s.ID, nil
}

// Edit changes the text of a message. Only its sender may, or a moderator.
func (c *Client) Edit(ctx context.Context, req EditRequest) (Message, error) {
	h := c.hub
	p, perms, err := c.perms(ctx)
	if err != nil {
		return Message{}, err
	}
	m, err := visibleMessage(ctx, h.store, c.meetingID, p.ID, req.ID)
	if err != nil {
		return Message{}, err
	}
	if err := mayChange(p, perms, m, "edit"); err != nil {
		return Message{}, err
	}
	switch {
	case m.Type == TypeText && req.UploadID != "":
		return Message{}, errorf(ErrInvalid, "invalid_request", "a text message takes a new message, not an upload_id")
	case m.Type == TypeText:
		if err := h.checkText(req.Message); err != nil {
			return Message{}, err
		}
	case req.UploadID == "" || req.Message != "":
		return Message{}, errorf(ErrInvalid, "invalid_request", "an %s message takes a new upload_id", m.Type)
	default:
		if _, err := usableUpload(ctx, h.store, p, req.UploadID, m.Type); err != nil {
			return Message{}, err
		}
	}
	if err := h.take(c.meetingID, p.ID, KindMessages); err != nil {
		return Message{}, err
	}
	var replaced Upload
	out, err := c.change(ctx, req.ID, "chat.updated", func(tx Tx, m *Message) error {
		if err := mayChange(p, perms, *m, "edit"); err != nil {
			return err
		}
		m.IsEdited = true
		if m.Type == TypeText {
			m.Message = req.Message
			return nil
		}
		u, err := usableUpload(ctx, tx, p, req.UploadID, m.Type)
		if err != nil {
			return err
		}
		if replaced, err = tx.Upload(ctx, m.UploadID); err != nil && !isNotFound(err) {
			return err
		}
		if err := tx.DeleteUpload(ctx, m.UploadID, h.clock.Now()); err != nil {
			return err
		}
		h.attach(m, u)
		return tx.SetUploadMessage(ctx, u.ID, m.ID)
	})
	if err == nil && replaced.ID != "" {
		h.removeBlobs(replaced)
	}
	return out, err
}

// mayChange allows the sender, or a participant whose preset moderates.
func mayChange(p Participant, perms ChatPerms, m Message, verb string) error {
	if m.UserID == p.ID || perms.Moderate {
		return nil
	}
	return errorf(ErrForbidden, "forbidden", "only the sender or a moderator may %s this message", verb)
}

// change applies f to a visible message in the writer and publishes the
// resulting event to the message's audience.
func (c *Client) change(ctx context.Context, id, event string, f func(Tx, *Message) error) (Message, error) {
	var out Message
	err := c.hub.store.Update(ctx, func(tx Tx) error {
		m, err := visibleMessage(ctx, tx, c.meetingID, c.pid, id)
		if err != nil {
			return err
		}
		before := m
		if err := f(tx, &m); err != nil {
			return err
		}
		if reflect.DeepEqual(m, before) {
			out = m // nothing changed: no new seq, no event
			return nil
		}
		out, err = c.commitMessage(ctx, tx, m, event)
		return err
	})
	return out, err
}

// commitMessage stores a changed message under the meeting's next seq and
// sends event with it to the message's audience once committed.
func (c *Client) commitMessage(ctx context.Context, tx Tx, m Message, event string) (Message, error) {
	if _, err := c.hub.commitChange(ctx, tx, c.meetingID, m.ID, event, m.audience(), func(seq int64) any {
		m.Seq = seq
		return m
	}); err != nil {
		return Message{}, err
	}
	return m, tx.UpdateMessage(ctx, m)
}

// Delete removes a message for everyone. Only its sender may, or a moderator.
func (c *Client) Delete(ctx context.Context, req IDRequest) (DeleteResult, error) {
	h := c.hub
	p, perms, err := c.perms(ctx)
	if err != nil {
		return DeleteResult{}, err
	}
	var out DeleteResult
	var gone Upload
	err = h.store.Update(ctx, func(tx Tx) error {
		m, err := visibleMessage(ctx, tx, c.meetingID, p.ID, req.ID)
		if err != nil {
			return err
		}
		if err := mayChange(p, perms, m, "delete"); err != nil {
			return err
		}
		if m.UploadID != "" {
			if gone, err = tx.Upload(ctx, m.UploadID); err != nil && !isNotFound(err) {
				return err
			}
			if err := tx.DeleteUpload(ctx, m.UploadID, h.clock.Now()); err != nil {
				return err
			}
		}
		// Scrub first, so the deletion's own change survives.
		if err := tx.DeleteMessage(ctx, m.ID, h.clock.Now()); err != nil {
			return err
		}
		seq, err := h.commitChange(ctx, tx, c.meetingID, m.ID, "chat.deleted", m.audience(), func(seq int64) any {
			return DeleteResult{ID: m.ID, Seq: seq}
		})
		out = DeleteResult{ID: m.ID, Seq: seq}
		return err
	})
	if err == nil && gone.ID != "" {
		h.removeBlobs(gone) // after the commit: a failed delete keeps its file
	}
	return out, err
}

// Pin marks a message pinned. Anyone who may send may pin.
func (c *Client) Pin(ctx context.Context, req IDRequest) (Message, error) {
	return c.setPinned(ctx, req.ID, true)
}

// Unpin clears a message's pin.
func (c *Client) Unpin(ctx context.Context, req IDRequest) (Message, error) {
	return c.setPinned(ctx, req.ID, false)
}

func (c *Client) setPinned(ctx context.Context, id string, pinned bool) (Message, error) {
	_, perms, err := c.perms(ctx)
	if err != nil {
		return Message{}, err
	}
	if !perms.Moderate && !perms.Public.CanSend && !perms.Private.CanSend {
		return Message{}, errorf(ErrForbidden, "forbidden", "your preset may not pin messages")
	}
	event := "chat.unpinned"
	if pinned {
		event = "chat.pinned"
	}
	return c.change(ctx, id, event, func(_ Tx, m *Message) error {
		m.Pinned = pinned
		return nil
	})
}

// History returns a page of the messages the client may see, oldest first.
func (c *Client) History(ctx context.Context, req HistoryRequest) (HistoryResult, error) {
	h := c.hub
	if req.Limit == 0 {
		req.Limit = 25
	}
	if req.Limit < 1 || req.Limit > 100 {
		return HistoryResult{}, errorf(ErrInvalid, "invalid_request", "limit must be between 1 and 100")
	}
	if req.Before != nil && req.After != nil {
		return HistoryResult{}, errorf(ErrInvalid, "invalid_request", "give before or after, not both")
	}
	if req.Type != "" && req.Type != TypeText && req.Type != TypeImage && req.Type != TypeFile {
		return HistoryResult{}, errorf(ErrInvalid, "invalid_request", "type must be text, image or file")
	}
	q, err := c.visibleQuery(ctx)
	if err != nil {
		return HistoryResult{}, err
	}
	q.Limit, q.WithUserID, q.Pinned, q.UserID, q.Type = req.Limit+1, req.WithUserID, req.Pinned, req.UserID, req.Type
	if req.Before != nil {
		if q.BeforeSeq, q.BeforeTime, err = c.cursor(ctx, req.Before); err != nil {
			return HistoryResult{}, err
		}
	}
	if req.After != nil {
		if q.AfterSeq, q.AfterTime, err = c.cursor(ctx, req.After); err != nil {
			return HistoryResult{}, err
		}
	}
	msgs, err := h.store.History(ctx, q)
	if err != nil {
		return HistoryResult{}, err
	}
	res := HistoryResult{Messages: msgs}
	if len(msgs) > req.Limit {
		res.HasMore = true
		if req.After != nil {
			res.Messages = msgs[:req.Limit]
		} else {
			res.Messages = msgs[1:]
		}
	}
	return res, nil
}

// historyBase is the query for what a viewer may see of a meeting.
func (h *Hub) historyBase(m Meeting, viewerID, sessionID string) HistoryQuery {
	q := HistoryQuery{MeetingID: m.ID, ViewerID: viewerID}
	if !m.PersistChat {
		q.SessionID = sessionID
		if q.SessionID == "" {
			q.SessionID = "-" // no live session: nothing to see
		}
	}
	return q
}

// visibleQuery is the base query for what the client may see now.
func (c *Client) visibleQuery(ctx context.Context) (HistoryQuery, error) {
	meeting, err := c.hub.store.Meeting(ctx, c.meetingID)
	if err != nil {
		return HistoryQuery{}, err
	}
	sessionID, _ := c.hub.liveSessionID(c.meetingID)
	return c.hub.historyBase(meeting, c.pid, sessionID), nil
}

// cursor reads a history cursor: unix milliseconds, or the id of a visible message.
func (c *Client) cursor(ctx context.Context, raw json.RawMessage) (int64, time.Time, error) {
	var ms int64
	if err := json.Unmarshal(raw, &ms); err == nil {
		return 0, time.UnixMilli(ms), nil
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || id == "" {
		return 0, time.Time{}, errorf(ErrInvalid, "invalid_request", "before/after must be a timestamp in ms or a message id")
	}
	m, err := visibleMessage(ctx, c.hub.store, c.meetingID, c.pid, id)
	if err != nil {
		return 0, time.Time{}, err
	}
	return m.CreatedSeq, time.Time{}, nil
}
