package chat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Conn is one connected client as the hub sees it. Package web implements it
// over a WebSocket.
type Conn interface {
	// Send queues an encoded frame without blocking. It returns false when
	// the client's queue is full; the hub then closes the connection.
	Send(frame []byte) bool
	// Close ends the connection with a WebSocket close code.
	Close(code int, reason string)
}

// Close codes of the realtime protocol.
const (
	CloseAuthFailed = 4001
	CloseRemoved    = 4003
	CloseTooSlow    = 4008
	CloseTooBig     = 4009
	CloseGoingAway  = 1001
)

// Config holds the limits and timings the hub enforces.
type Config struct {
	MessagesPerMinute int
	FilesPerMinute    int
	MaxTextLength     int
	MaxMetadataBytes  int
	MaxUploadBytes    int64
	SessionKeepAlive  time.Duration
	TokenTTL          time.Duration
	// BaseURL is the absolute URL file links start with, e.g. "https://chat.example.com".
	BaseURL string
	// PendingLimit bounds the events held for a client while its auth or
	// resume reply is being prepared.
	PendingLimit int
}

// DefaultConfig returns the limits of SPEC §6.
func DefaultConfig() Config {
	return Config{
		MessagesPerMinute: 180,
		FilesPerMinute:    20,
		MaxTextLength:     2000,
		MaxMetadataBytes:  4096,
		MaxUploadBytes:    25 << 20,
		SessionKeepAlive:  60 * time.Second,
		TokenTTL:          24 * time.Hour,
		PendingLimit:      1024,
	}
}

// Options are the hub's dependencies.
type Options struct {
	Store  Store
	Blobs  Blobs
	Clock  Clock
	Logger *slog.Logger
	Config Config
	// NewLimiter makes a token bucket that refills perMinute tokens a minute
	// and holds as many.
	NewLimiter func(perMinute int) Limiter
}

// Hub is the meeting service: it applies every change through the store,
// keeps who is connected where, and delivers each committed change to the
// clients allowed to see it, in seq order.
type Hub struct {
	store      Store
	blobs      Blobs
	clock      Clock
	log        *slog.Logger
	cfg        Config
	newLimiter func(int) Limiter

	// deliveryWake tells the webhook sender there is work.
	deliveryWake chan struct{}

	mu      sync.Mutex
	rooms   map[string]*room
	buckets map[string]*buckets
	closed  bool
}

// room is the live state of one meeting on this node.
type room struct {
	id string

	// life serialises joins, leaves and session changes of the meeting.
	life     sync.Mutex
	session  *Session
	online   map[string]*presence
	endTimer Timer
	endGen   int

	typing map[string]Timer // who is typing, with the timer that stops it

	// mu guards clients; delivery takes only this lock, so it never waits
	// for a join or a store write.
	mu      sync.RWMutex
	clients map[*Client]struct{}
}

// presence counts one participant's connections: several tabs are one presence.
type presence struct {
	p        Participant
	count    int
	joinedAt Time
}

// buckets are one participant's token buckets and pending reset notices.
type buckets struct {
	messages, files, typing   Limiter
	messagesReset, filesReset bool
}

// NewHub starts the service. Sessions left live by a previous run get their
// keep-alive again, so participants who reconnect after a restart continue them.
func NewHub(ctx context.Context, o Options) (*Hub, error) {
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		store:        o.Store,
		blobs:        o.Blobs,
		clock:        o.Clock,
		log:          o.Logger,
		cfg:          o.Config,
		newLimiter:   o.NewLimiter,
		rooms:        map[string]*room{},
		deliveryWake: make(chan struct{}, 1),
		buckets:      map[string]*buckets{},
	}
	live, err := h.store.LiveSessions(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range live {
		r := h.room(s.MeetingID)
		r.life.Lock()
		sess := s
		r.session = &sess
		h.scheduleEnd(r)
		r.life.Unlock()
	}
	if h.blobs != nil {
		h.collectUploads()
	}
	return h, nil
}

// Config returns the limits the hub enforces.
func (h *Hub) Config() Config { return h.cfg }

// Epoch identifies the database behind the hub.
func (h *Hub) Epoch() string { return h.store.Epoch() }

// Close stops the hub's timers. Connections are closed by their transport.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		r.life.Lock()
		if r.endTimer != nil {
			r.endTimer.Stop()
			r.endTimer = nil
		}
		r.life.Unlock()
	}
}

func (h *Hub) room(meetingID string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[meetingID]
	if r == nil {
		r = &room{id: meetingID, online: map[string]*presence{}, clients: map[*Client]struct{}{}, typing: map[string]Timer{}}
		h.rooms[meetingID] = r
	}
	return r
}

func (h *Hub) lookupRoom(meetingID string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[meetingID]
}

// Event is a server-to-client frame that isn't a reply.
type Event struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
}

func encodeEvent(name string, data any) []byte {
	b, err := json.Marshal(Event{Event: name, Data: data})
	if err != nil {
		panic("chat: encode event: " + err.Error()) // our own types always encode
	}
	return b
}

// frames is an event encoded once per variant: the message as unread, and
// as read for its sender and everyone whose read mark covers it.
type frames struct {
	plain      []byte
	read       []byte // nil: every receiver gets plain
	author     string
	createdSeq int64
}

func (f frames) forClient(c *Client) []byte {
	if f.read != nil && (c.pid == f.author || c.readMark.Load() >= f.createdSeq) {
		return f.read
	}
	return f.plain
}

// deliver queues a frame on every client of the meeting in audience (nil:
// all). Chat changes call it from the store's writer in commit order, so
// every client sees one order. Frames are encoded once, not per client.
func (h *Hub) deliver(meetingID string, seq int64, audience []string, frame []byte) {
	h.deliverFrames(meetingID, seq, audience, "", frames{plain: frame})
}

// deliverFrames is deliver with read variants, skipping except's connections.
func (h *Hub) deliverFrames(meetingID string, seq int64, audience []string, except string, f frames) {
	r := h.lookupRoom(meetingID)
	if r == nil {
		return
	}
	r.mu.RLock()
	targets := make([]*Client, 0, len(r.clients))
	for c := range r.clients {
		if (audience == nil || contains(audience, c.pid)) && c.pid != except {
			targets = append(targets, c)
		}
	}
	r.mu.RUnlock()
	for _, c := range targets {
		c.deliver(f.forClient(c), seq)
	}
}

// deliverTo queues a frame on every connection of one participant.
func (h *Hub) deliverTo(meetingID, participantID string, frame []byte) {
	h.deliver(meetingID, 0, []string{participantID}, frame)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// clientsOf returns the connections of a participant, or of a whole meeting
// when participantID is empty.
func (h *Hub) clientsOf(meetingID, participantID string) []*Client {
	r := h.lookupRoom(meetingID)
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Client
	for c := range r.clients {
		if participantID == "" || c.pid == participantID {
			out = append(out, c)
		}
	}
	return out
}

// commitChange gives a meeting change its seq, logs it, and arranges for its
// event to go out once the transaction has committed — never before.
func (h *Hub) commitChange(ctx context.Context, tx Tx, meetingID, messageID, event string, audience []string, data func(seq int64) any) (int64, error) {
	seq, err := tx.NextSeq(ctx, meetingID)
	if err != nil {
		return 0, err
	}
	v := data(seq)
	f := frames{plain: encodeEvent(event, v)}
	if m, ok := v.(Message); ok {
		m.Read = true
		f.read, f.author, f.createdSeq = encodeEvent(event, m), m.UserID, m.CreatedSeq
	}
	if err := tx.AppendChange(ctx, Change{MeetingID: meetingID, Seq: seq, MessageID: messageID, Event: event, Audience: audience, Frame: f.plain}); err != nil {
		return 0, err
	}
	tx.AfterCommit(func() { h.deliverFrames(meetingID, seq, audience, "", f) })
	return seq, nil
}

// bucketsOf returns the token buckets of a participant.
func (h *Hub) bucketsOf(participantID string) *buckets {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.buckets[participantID]
	if b == nil {
		b = &buckets{messages: h.newLimiter(h.cfg.MessagesPerMinute), files: h.newLimiter(h.cfg.FilesPerMinute), typing: h.newLimiter(typingPerMinute)}
		h.buckets[participantID] = b
	}
	return b
}

// Limit kinds, as named in rate_limit.reset events.
const (
	KindMessages = "messages"
	KindFiles    = "files"
)

// take spends one token of the participant's bucket of the given kind. When
// the bucket is empty it returns a rate_limited error and makes sure a
// rate_limit.reset event follows once a token is back.
func (h *Hub) take(meetingID, participantID, kind string) error {
	b := h.bucketsOf(participantID)
	lim, pending := b.messages, &b.messagesReset
	if kind == KindFiles {
		lim, pending = b.files, &b.filesReset
	}
	ok, wait := lim.Reserve(h.clock.Now())
	if ok {
		return nil
	}
	h.mu.Lock()
	if !*pending {
		*pending = true
		h.clock.AfterFunc(wait, func() {
			h.mu.Lock()
			*pending = false
			h.mu.Unlock()
			h.deliverTo(meetingID, participantID, encodeEvent("rate_limit.reset", map[string]string{"kind": kind}))
		})
	}
	h.mu.Unlock()
	// Round up, so a client that waits retry_after_ms finds a token.
	wait = (wait + time.Millisecond - 1).Truncate(time.Millisecond)
	return &Error{Kind: ErrRateLimited, Code: "rate_limited", Msg: "too many " + kind + "; try again later", RetryAfter: wait}
}

// isTransient reports whether err came from the context rather than the request.
func isTransient(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Online reports how many participants of a meeting are connected here.
func (h *Hub) Online(meetingID string) int {
	r := h.lookupRoom(meetingID)
	if r == nil {
		return 0
	}
	r.life.Lock()
	defer r.life.Unlock()
	return len(r.online)
}
