package chat

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
)

// Client is one authenticated connection of a participant.
type Client struct {
	hub *Hub
	// pid and meetingID never change; participant may (name, preset).
	pid       string
	meetingID string
	room      *room
	conn      Conn

	// readMark is how far the participant has read, for the read field
	// of the events it receives.
	readMark atomic.Int64

	mu          sync.Mutex
	participant Participant
	ready       bool
	closed      bool
	snapshotSeq int64
	pending     []pendingFrame
	replay      [][]byte
}

type pendingFrame struct {
	seq   int64
	frame []byte
}

// Participant returns the participant behind the connection, as currently known.
func (c *Client) Participant() Participant {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.participant
}

// deliver queues a frame, or holds it while the client's snapshot is being
// prepared. A client whose queue is full is closed with 4008: it may resume,
// but it is never silently skipped.
func (c *Client) deliver(frame []byte, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if !c.ready {
		if len(c.pending) >= c.hub.cfg.PendingLimit {
			c.closeLocked(CloseTooSlow, "too slow")
			return
		}
		c.pending = append(c.pending, pendingFrame{seq, frame})
		return
	}
	if !c.conn.Send(frame) {
		c.closeLocked(CloseTooSlow, "too slow")
	}
}

func (c *Client) closeLocked(code int, reason string) {
	if c.closed || c.conn == nil {
		return
	}
	c.closed = true
	c.pending = nil
	c.conn.Close(code, reason)
}

// Close ends the connection with a close code.
func (c *Client) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason)
}

// Resume is where a reconnecting client left off.
type Resume struct {
	Epoch string `json:"epoch"`
	Seq   int64  `json:"seq"`
}

// Limits are the limits a client is told about in its auth reply.
type Limits struct {
	MessagesPerMinute int   `json:"messages_per_minute"`
	FilesPerMinute    int   `json:"files_per_minute"`
	MaxTextLength     int   `json:"max_text_length"`
	MaxUploadBytes    int64 `json:"max_upload_bytes"`
}

// AuthReply is the data of the reply to auth (SPEC §4).
type AuthReply struct {
	Self         Participant   `json:"self"`
	Meeting      Meeting       `json:"meeting"`
	Session      *Session      `json:"session"`
	Epoch        string        `json:"epoch"`
	Seq          int64         `json:"seq"`
	Participants []Participant `json:"participants"`
	Pinned       []Message     `json:"pinned"`
	Recent       []Message     `json:"recent"`
	Unread       int           `json:"unread"`
	Limits       Limits        `json:"limits"`
}

// maxReplay bounds how many changes a resume replays; past that the client
// is told to reload instead.
const maxReplay = 5000

// HashToken returns the digest under which a participant token is stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Authenticate finds the participant a token belongs to.
func (h *Hub) Authenticate(ctx context.Context, token string) (Participant, error) {
	if token == "" {
		return Participant{}, errorf(ErrUnauthorized, "unauthorized", "missing token")
	}
	p, err := h.store.ParticipantByTokenHash(ctx, HashToken(token))
	if err != nil {
		if isNotFound(err) {
			return Participant{}, errorf(ErrUnauthorized, "unauthorized", "invalid token")
		}
		return Participant{}, err
	}
	if !h.clock.Now().Before(p.TokenExpiresAt.Time) {
		return Participant{}, errorf(ErrUnauthorized, "unauthorized", "token expired")
	}
	return p, nil
}

// Connect joins an authenticated participant's connection to its meeting:
// starts the session if none is live, announces presence, and prepares the
// auth reply. Events committed from here on are held for the client until
// Ready sends them, so nothing falls between the snapshot and live delivery.
func (h *Hub) Connect(ctx context.Context, p Participant, conn Conn, resume *Resume) (*Client, AuthReply, error) {
	c := &Client{hub: h, pid: p.ID, meetingID: p.MeetingID, conn: conn, participant: p}
	r := h.room(p.MeetingID)
	c.room = r

	r.life.Lock()
	meeting, err := h.store.Meeting(ctx, p.MeetingID)
	if err != nil {
		r.life.Unlock()
		return nil, AuthReply{}, err
	}
	if meeting.Status != StatusActive {
		r.life.Unlock()
		return nil, AuthReply{}, errorf(ErrForbidden, "meeting_inactive", "the meeting is not active")
	}
	if err := h.join(ctx, r, p, meeting); err != nil {
		r.life.Unlock()
		return nil, AuthReply{}, err
	}
	r.mu.Lock()
	r.clients[c] = struct{}{}
	r.mu.Unlock()
	session := *r.session
	online := make([]Participant, 0, len(r.online))
	for _, pr := range r.online {
		online = append(online, pr.p)
	}
	r.life.Unlock()

	reply := AuthReply{Self: p, Session: &session, Epoch: h.store.Epoch(), Participants: online, Limits: Limits{
		MessagesPerMinute: h.cfg.MessagesPerMinute, FilesPerMinute: h.cfg.FilesPerMinute,
		MaxTextLength: h.cfg.MaxTextLength, MaxUploadBytes: h.cfg.MaxUploadBytes,
	}}
	err = h.store.View(ctx, func(rd Reader) error {
		m, err := rd.Meeting(ctx, p.MeetingID)
		if err != nil {
			return err
		}
		reply.Meeting, reply.Seq = m, m.Seq
		q := h.historyBase(m, p.ID, session.ID)
		q.Limit = 50
		if reply.Recent, err = rd.History(ctx, q); err != nil {
			return err
		}
		q.Limit, q.Pinned = 100, true
		if reply.Pinned, err = rd.History(ctx, q); err != nil {
			return err
		}
		mark, err := rd.ReadMark(ctx, p.ID)
		if err != nil {
			return err
		}
		c.readMark.Store(mark)
		q.Limit, q.Pinned, q.AfterSeq, q.ExcludeUserID = 0, false, mark, p.ID
		if reply.Unread, err = rd.CountMessages(ctx, q); err != nil {
			return err
		}
		if resume == nil {
			return nil
		}
		c.replay = nil
		recovered := resume.Epoch == reply.Epoch && resume.Seq <= m.Seq && resume.Seq >= 0
		if recovered {
			changes, err := rd.Changes(ctx, p.MeetingID, resume.Seq, maxReplay+1)
			if err != nil {
				return err
			}
			if len(changes) > maxReplay {
				recovered = false
			}
			for _, ch := range changes {
				if recovered && ch.Frame != nil && (ch.Audience == nil || contains(ch.Audience, p.ID)) {
					c.replay = append(c.replay, ch.Frame)
				}
			}
			if !recovered {
				c.replay = nil
			}
		}
		c.replay = append(c.replay, encodeEvent("resumed", map[string]bool{"recovered": recovered}))
		return nil
	})
	if err != nil {
		h.Disconnect(c)
		return nil, AuthReply{}, err
	}
	c.snapshotSeq = reply.Seq
	return c, reply, nil
}

// Ready sends what the client missed (when resuming), then every event held
// since Connect that its snapshot didn't already cover, and goes live.
func (c *Client) Ready() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	for _, f := range c.replay {
		if !c.conn.Send(f) {
			c.closeLocked(CloseTooSlow, "too slow")
			return
		}
	}
	for _, p := range c.pending {
		if p.seq != 0 && p.seq <= c.snapshotSeq {
			continue
		}
		if !c.conn.Send(p.frame) {
			c.closeLocked(CloseTooSlow, "too slow")
			return
		}
	}
	c.replay, c.pending, c.ready = nil, nil, true
}

// join counts a participant's connection, starting the meeting's session if
// none is live. Called with r.life held.
func (h *Hub) join(ctx context.Context, r *room, p Participant, meeting Meeting) error {
	now := h.clock.Now()
	if r.endTimer != nil {
		r.endTimer.Stop()
		r.endTimer = nil
		r.endGen++
	}
	pr := r.online[p.ID]
	if pr != nil {
		pr.count++
		pr.p = p
		return nil
	}
	var started *Session
	if r.session == nil {
		started = &Session{ID: NewID(), MeetingID: r.id, Status: SessionLive, StartedAt: At(now)}
	}
	session := r.session
	if started != nil {
		session = started
	}
	err := h.store.Update(ctx, func(tx Tx) error {
		if started != nil {
			if err := tx.InsertSession(ctx, *started); err != nil {
				return err
			}
			if err := h.enqueue(ctx, tx, EventMeetingStarted, eventPayload{Event: EventMeetingStarted, Meeting: meetingOf(meeting, *started)}); err != nil {
				return err
			}
		}
		if err := tx.MarkJoined(ctx, session.ID, p.ID, now); err != nil {
			return err
		}
		return h.enqueue(ctx, tx, EventParticipantJoined, eventPayload{Event: EventParticipantJoined, Meeting: meetingOf(meeting, *session),
			Participant: &participantPayload{PeerID: p.ID, UserDisplayName: p.Name, CustomParticipantID: p.CustomParticipantID, JoinedAt: At(now)}})
	})
	if err != nil {
		return err
	}
	if started != nil {
		r.session = started
		h.log.Info("session started", "meeting", r.id, "session", started.ID)
	}
	r.online[p.ID] = &presence{p: p, count: 1, joinedAt: At(now)}
	h.deliver(r.id, 0, nil, encodeEvent("presence", map[string]any{"user_id": p.ID, "status": "online", "participant": p}))
	return nil
}

// Disconnect removes a connection. The participant goes offline with its
// last connection; the session ends a keep-alive after the last one leaves.
func (h *Hub) Disconnect(c *Client) {
	r := c.room
	c.mu.Lock()
	c.closed = true
	c.pending = nil
	c.mu.Unlock()

	r.life.Lock()
	defer r.life.Unlock()
	r.mu.Lock()
	_, member := r.clients[c]
	delete(r.clients, c)
	r.mu.Unlock()
	if !member {
		return
	}
	pr := r.online[c.pid]
	if pr == nil {
		return
	}
	if pr.count--; pr.count > 0 {
		return
	}
	delete(r.online, c.pid)
	h.stopTyping(r, c.pid)
	if r.session != nil {
		sess := *r.session
		ctx := context.Background()
		now := At(h.clock.Now())
		// The connection is gone whatever happens; a failed write only
		// loses the left_at time, so it is logged rather than returned.
		err := h.store.Update(ctx, func(tx Tx) error {
			if err := tx.MarkLeft(ctx, sess.ID, c.pid, now.Time); err != nil {
				return err
			}
			m, err := tx.Meeting(ctx, r.id)
			if err != nil {
				return err
			}
			return h.enqueue(ctx, tx, EventParticipantLeft, eventPayload{Event: EventParticipantLeft, Meeting: meetingOf(m, sess),
				Participant: &participantPayload{PeerID: pr.p.ID, UserDisplayName: pr.p.Name, CustomParticipantID: pr.p.CustomParticipantID, JoinedAt: pr.joinedAt, LeftAt: &now}})
		})
		if err != nil {
			h.log.Warn("mark participant left", "participant", c.pid, "err", err)
		}
	}
	h.deliver(r.id, 0, nil, encodeEvent("presence", map[string]any{"user_id": c.pid, "status": "offline"}))
	if len(r.online) == 0 {
		h.scheduleEnd(r)
	}
}

// scheduleEnd ends the room's session after the keep-alive unless someone
// joins first. Called with r.life held.
func (h *Hub) scheduleEnd(r *room) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if r.session == nil || closed {
		return
	}
	r.endGen++
	gen := r.endGen
	r.endTimer = h.clock.AfterFunc(h.cfg.SessionKeepAlive, func() {
		r.life.Lock()
		defer r.life.Unlock()
		if gen != r.endGen || len(r.online) > 0 || r.session == nil {
			return
		}
		r.endTimer = nil
		h.endSession(r, "ALL_PARTICIPANTS_LEFT")
	})
}

// endSession ends the room's live session now, queueing meeting.ended
// and — its chat being final — meeting.chatSynced in the same
// transaction. Called with r.life held.
func (h *Hub) endSession(r *room, reason string) {
	s := r.session
	if s == nil {
		return
	}
	now := h.clock.Now()
	ctx := context.Background()
	err := h.store.Update(ctx, func(tx Tx) error {
		if err := tx.EndSession(ctx, s.ID, now); err != nil {
			return err
		}
		m, err := tx.Meeting(ctx, r.id)
		if err != nil {
			return err
		}
		ended := *s
		end := At(now)
		ended.Status, ended.EndedAt = SessionEnded, &end
		if err := h.enqueue(ctx, tx, EventMeetingEnded, eventPayload{Event: EventMeetingEnded, Meeting: meetingOf(m, ended), Reason: reason}); err != nil {
			return err
		}
		// The download link is filled in when the delivery is sent.
		return h.enqueue(ctx, tx, EventChatSynced, chatSyncedPayload{Event: EventChatSynced, Title: m.Title, CreatedAt: m.CreatedAt,
			StartedAt: s.StartedAt, EndedAt: end, MeetingID: m.ID, SessionID: s.ID})
	})
	if err != nil {
		h.log.Error("end session", "session", s.ID, "err", err)
		return
	}
	r.session = nil
	h.log.Info("session ended", "meeting", r.id, "session", s.ID)
	h.deliver(r.id, 0, nil, encodeEvent("session.ended", map[string]any{"session_id": s.ID, "meeting_id": r.id, "ended_at": At(now)}))
}
