package chat

import (
	"context"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the conversation features.
const (
	// typingPerMinute bounds typing notices: they are never stored and
	// don't count as messages, but a client mustn't flood the room.
	typingPerMinute = 60
	// TypingTimeout ends a typing notice nobody ended.
	TypingTimeout = 6 * time.Second
	// PageSize is the size of a page of messages (conversation-object.txt).
	PageSize    = 25
	maxReaction = 16
)

// ReactRequest is the data of chat.react.
type ReactRequest struct {
	ID       string `json:"id"`
	Reaction string `json:"reaction"`
}

// ReactResult is the reply to chat.react.
type ReactResult struct {
	ReactionID string  `json:"reaction_id"`
	Message    Message `json:"message"`
}

// UnreactRequest is the data of chat.unreact.
type UnreactRequest struct {
	ReactionID string `json:"reaction_id"`
}

// ReadRequest is the data of chat.read; no id means the latest message.
type ReadRequest struct {
	ID string `json:"id"`
}

// ReadResult is the reply to chat.read and the data of chat.read events
// (with UserID). Seq is the read message's position in the meeting's order.
type ReadResult struct {
	UserID string `json:"user_id,omitempty"`
	ID     string `json:"id"`
	Seq    int64  `json:"seq"`
}

// TypingRequest is the data of chat.typing.
type TypingRequest struct {
	Typing bool `json:"typing"`
}

// PageRequest is the data of chat.page; no page means the newest.
type PageRequest struct {
	Page *int `json:"page"`
}

// PageResult is a page of messages (conversation-object.txt).
type PageResult struct {
	Messages      []Message `json:"messages"`
	Page          int       `json:"page"`
	TotalMessages int       `json:"totalMessages"`
	TotalPages    int       `json:"totalPages"`
}

// SearchRequest is the data of chat.search.
type SearchRequest struct {
	Query string `json:"query"`
	Limit int    `json:"limit"`
}

// SearchResult is the reply to chat.search.
type SearchResult struct {
	Messages []Message `json:"messages"`
}

// MeetingUpdate is the data of meeting.update.
type MeetingUpdate struct {
	Title    *string        `json:"title"`
	Picture  *string        `json:"picture"`
	Metadata map[string]any `json:"metadata"`
}

// mayTalk is what reacting, pinning and typing ask: the preset may send
// something, publicly or privately.
func mayTalk(perms ChatPerms) bool {
	return perms.Moderate || perms.Public.CanSend || perms.Private.CanSend
}

func checkReaction(r string) error {
	if strings.TrimSpace(r) == "" || !utf8.ValidString(r) {
		return errorf(ErrInvalid, "invalid_request", "reaction must not be empty")
	}
	if utf8.RuneCountInString(r) > maxReaction || len(r) > 64 {
		return errorf(ErrInvalid, "invalid_request", "a reaction is one emoji or at most %d characters", maxReaction)
	}
	for _, c := range r {
		if unicode.IsControl(c) {
			return errorf(ErrInvalid, "invalid_request", "a reaction has no control characters")
		}
	}
	return nil
}

// React adds the participant's reaction to a message; the same reaction
// twice is one. Everyone who sees the message gets chat.updated.
func (c *Client) React(ctx context.Context, req ReactRequest) (ReactResult, error) {
	h := c.hub
	p, perms, err := c.perms(ctx)
	if err != nil {
		return ReactResult{}, err
	}
	if !mayTalk(perms) {
		return ReactResult{}, errorf(ErrForbidden, "forbidden", "your preset may not react")
	}
	if err := checkReaction(req.Reaction); err != nil {
		return ReactResult{}, err
	}
	if _, err := visibleMessage(ctx, h.store, c.meetingID, p.ID, req.ID); err != nil {
		return ReactResult{}, err
	}
	if err := h.take(c.meetingID, p.ID, KindMessages); err != nil {
		return ReactResult{}, err
	}
	var out ReactResult
	err = h.store.Update(ctx, func(tx Tx) error {
		m, err := visibleMessage(ctx, tx, c.meetingID, p.ID, req.ID)
		if err != nil {
			return err
		}
		fresh := NewID()
		r, err := tx.InsertReaction(ctx, m.ID, Reaction{ReactionID: fresh, UserID: p.ID, Reaction: req.Reaction}, h.clock.Now())
		if err != nil {
			return err
		}
		out.ReactionID = r.ReactionID
		if r.ReactionID != fresh { // already there: nothing changes
			out.Message = m
			return nil
		}
		out.Message, err = c.republish(ctx, tx, m.ID)
		return err
	})
	return out, err
}

// Unreact removes a reaction: one's own, or any for a moderator.
func (c *Client) Unreact(ctx context.Context, req UnreactRequest) (Message, error) {
	h := c.hub
	p, perms, err := c.perms(ctx)
	if err != nil {
		return Message{}, err
	}
	var out Message
	err = h.store.Update(ctx, func(tx Tx) error {
		r, mid, err := tx.Reaction(ctx, req.ReactionID)
		if err == nil {
			_, err = visibleMessage(ctx, tx, c.meetingID, p.ID, mid)
		}
		if isNotFound(err) {
			return errorf(ErrNotFound, "not_found", "no reaction %s", req.ReactionID)
		}
		if err != nil {
			return err
		}
		if r.UserID != p.ID && !perms.Moderate {
			return errorf(ErrForbidden, "forbidden", "only its author or a moderator may remove a reaction")
		}
		if err := tx.DeleteReaction(ctx, r.ReactionID); err != nil {
			return err
		}
		out, err = c.republish(ctx, tx, mid)
		return err
	})
	return out, err
}

// republish gives a message whose reactions changed a new seq and sends
// chat.updated with the new reaction list to its audience.
func (c *Client) republish(ctx context.Context, tx Tx, id string) (Message, error) {
	m, err := tx.Message(ctx, id)
	if err != nil {
		return Message{}, err
	}
	return c.commitMessage(ctx, tx, m, "chat.updated")
}

// MarkRead marks a message, and every earlier one, read for the
// participant; those who see the message get chat.read so senders can show
// "seen". Marks only move forward and survive restarts.
func (c *Client) MarkRead(ctx context.Context, req ReadRequest) (ReadResult, error) {
	h := c.hub
	p := c.Participant()
	var m Message
	var err error
	if req.ID != "" {
		m, err = visibleMessage(ctx, h.store, c.meetingID, p.ID, req.ID)
	} else {
		m, err = c.latest(ctx)
	}
	if err != nil {
		return ReadResult{}, err
	}
	res := ReadResult{ID: m.ID, Seq: m.CreatedSeq}
	err = h.store.Update(ctx, func(tx Tx) error {
		mark, err := tx.ReadMark(ctx, p.ID)
		if err != nil || m.CreatedSeq <= mark {
			return err // already read: no event
		}
		if err := tx.SetReadMark(ctx, p.ID, m.ID, m.CreatedSeq, h.clock.Now()); err != nil {
			return err
		}
		ev := encodeEvent("chat.read", ReadResult{UserID: p.ID, ID: m.ID, Seq: m.CreatedSeq})
		tx.AfterCommit(func() {
			for _, other := range h.clientsOf(c.meetingID, p.ID) {
				advance(&other.readMark, m.CreatedSeq)
			}
			h.deliverFrames(c.meetingID, 0, m.audience(), p.ID, frames{plain: ev})
		})
		return nil
	})
	return res, err
}

func advance(v *atomic.Int64, to int64) {
	for {
		cur := v.Load()
		if cur >= to || v.CompareAndSwap(cur, to) {
			return
		}
	}
}

// latest is the newest message the client may see.
func (c *Client) latest(ctx context.Context) (Message, error) {
	q, err := c.visibleQuery(ctx)
	if err != nil {
		return Message{}, err
	}
	q.Limit = 1
	msgs, err := c.hub.store.History(ctx, q)
	if err != nil {
		return Message{}, err
	}
	if len(msgs) == 0 {
		return Message{}, errorf(ErrNotFound, "not_found", "there are no messages to mark read")
	}
	return msgs[0], nil
}

// Typing tells the others the participant is typing, or stopped. A notice
// that isn't ended ends by itself after TypingTimeout. Nothing is stored.
func (c *Client) Typing(ctx context.Context, req TypingRequest) (struct{}, error) {
	h := c.hub
	p, perms, err := c.perms(ctx)
	if err != nil {
		return struct{}{}, err
	}
	if !mayTalk(perms) {
		return struct{}{}, errorf(ErrForbidden, "forbidden", "your preset may not send")
	}
	if ok, wait := h.bucketsOf(p.ID).typing.Reserve(h.clock.Now()); !ok {
		return struct{}{}, &Error{Kind: ErrRateLimited, Code: "rate_limited", Msg: "too many typing notices", RetryAfter: wait}
	}
	r := h.room(c.meetingID)
	r.life.Lock()
	defer r.life.Unlock()
	if !req.Typing {
		h.stopTyping(r, p.ID)
		return struct{}{}, nil
	}
	t, already := r.typing[p.ID]
	if already {
		t.Stop()
	} else {
		h.sendTyping(r, p.ID, true)
	}
	var timer Timer
	timer = h.clock.AfterFunc(TypingTimeout, func() {
		r.life.Lock()
		defer r.life.Unlock()
		if r.typing[p.ID] == timer {
			h.stopTyping(r, p.ID)
		}
	})
	r.typing[p.ID] = timer
	return struct{}{}, nil
}

// stopTyping ends a participant's typing notice, if any. Called with r.life held.
func (h *Hub) stopTyping(r *room, pid string) {
	t, ok := r.typing[pid]
	if !ok {
		return
	}
	t.Stop()
	delete(r.typing, pid)
	h.sendTyping(r, pid, false)
}

func (h *Hub) sendTyping(r *room, pid string, typing bool) {
	ev := encodeEvent("typing", map[string]any{"user_id": pid, "typing": typing})
	h.deliverFrames(r.id, 0, nil, pid, frames{plain: ev})
}

// Page returns a page of 25 messages the client may see, page 1 the
// newest, oldest first within the page.
func (c *Client) Page(ctx context.Context, req PageRequest) (PageResult, error) {
	page := 1
	if req.Page != nil {
		page = *req.Page
	}
	if page < 1 {
		return PageResult{}, errorf(ErrInvalid, "invalid_request", "page must be 1 or more")
	}
	q, err := c.visibleQuery(ctx)
	if err != nil {
		return PageResult{}, err
	}
	res := PageResult{Page: page, Messages: []Message{}}
	err = c.hub.store.View(ctx, func(r Reader) error {
		if res.TotalMessages, err = r.CountMessages(ctx, q); err != nil {
			return err
		}
		res.TotalPages = (res.TotalMessages + PageSize - 1) / PageSize
		q.Limit, q.Offset = PageSize, (page-1)*PageSize
		res.Messages, err = r.History(ctx, q)
		return err
	})
	return res, err
}

// Search finds the messages the client may see that match a query, best
// first. Words match whole, the last one also as a prefix.
func (c *Client) Search(ctx context.Context, req SearchRequest) (SearchResult, error) {
	if req.Limit == 0 {
		req.Limit = 20
	}
	if req.Limit < 1 || req.Limit > 100 {
		return SearchResult{}, errorf(ErrInvalid, "invalid_request", "limit must be between 1 and 100")
	}
	match := ftsQuery(req.Query)
	if match == "" || utf8.RuneCountInString(req.Query) > 200 {
		return SearchResult{}, errorf(ErrInvalid, "invalid_request", "query must have 1 to 200 characters with a letter or digit")
	}
	q, err := c.visibleQuery(ctx)
	if err != nil {
		return SearchResult{}, err
	}
	q.Limit = req.Limit
	msgs, err := c.hub.store.Search(ctx, q, match)
	if msgs == nil {
		msgs = []Message{}
	}
	return SearchResult{Messages: msgs}, err
}

// ftsQuery turns what a person typed into an FTS5 query that can't be a
// syntax error: each word quoted, all required, the last a prefix.
func ftsQuery(s string) string {
	words := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > 16 {
		words = words[:16]
	}
	for i, w := range words {
		words[i] = `"` + w + `"`
	}
	if len(words) > 0 {
		words[len(words)-1] += "*"
	}
	return strings.Join(words, " ")
}

// UpdateMeeting lets a host change the meeting's title, picture and metadata.
func (c *Client) UpdateMeeting(ctx context.Context, req MeetingUpdate) (Meeting, error) {
	_, perms, err := c.perms(ctx)
	if err != nil {
		return Meeting{}, err
	}
	if !perms.Moderate {
		return Meeting{}, errorf(ErrForbidden, "forbidden", "only hosts may change the meeting")
	}
	return c.hub.UpdateMeeting(ctx, c.meetingID, MeetingPatch{Title: req.Title, Picture: req.Picture, Metadata: req.Metadata})
}

// Actor returns a client for a participant that isn't connected, for the
// HTTP actions: the same operations, the same stored changes and events.
func (h *Hub) Actor(p Participant) *Client {
	return &Client{hub: h, pid: p.ID, meetingID: p.MeetingID, participant: p, room: h.room(p.MeetingID)}
}
