package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"parley/chat"
)

// opTimeout bounds one realtime operation.
const opTimeout = 30 * time.Second

// newMelody configures the WebSocket manager once. melody's defaults accept
// any origin, cap frames at 512 bytes and drop frames silently when a
// client's buffer is full; each is set here on purpose.
func (s *Server) newMelody() *melody.Melody {
	m := melody.New()
	// Frames up to twice the limit are read so that we can answer them with
	// our own close code (4009); past that the library closes with 1009.
	m.Config.MaxMessageSize = 2 * s.cfg.MaxFrameBytes
	// The queue is allocated whole for every connection: 128 frames is
	// plenty for a live client, and one that far behind is closed (4008)
	// and resumes rather than holding memory.
	m.Config.MessageBufferSize = s.cfg.QueueSize
	// Idle connections hold no write buffer: they borrow one per write.
	m.Upgrader.WriteBufferPool = &sync.Pool{}
	m.Upgrader.CheckOrigin = s.checkOrigin
	m.HandleConnect(s.onConnect)
	m.HandleMessage(s.onMessage)
	m.HandleDisconnect(s.onDisconnect)
	m.HandleError(s.onError)
	return m
}

// socket is one WebSocket connection: chat.Conn for the hub, plus the
// connection's auth state.
type socket struct {
	srv      *Server
	sess     *melody.Session
	overflow atomic.Bool

	mu     sync.Mutex
	client *chat.Client
	header *chat.Participant // authenticated by the upgrade's Authorization header
	timer  *time.Timer
}

var _ chat.Conn = (*socket)(nil)

func socketOf(sess *melody.Session) *socket {
	v, _ := sess.Get("socket")
	so, _ := v.(*socket)
	return so
}

// Send queues a frame. melody reports a full buffer through the error
// handler, synchronously, which marks the socket as overflowed.
func (so *socket) Send(frame []byte) bool {
	if so.sess.Write(frame) != nil {
		return false
	}
	return !so.overflow.Load()
}

// Close ends the connection. A queued close frame follows the frames before
// it; a client that is too slow to read gets its close frame directly,
// since its queue is full.
func (so *socket) Close(code int, reason string) {
	if code == chat.CloseTooSlow || so.overflow.Load() {
		so.hardClose(code, reason)
		return
	}
	so.sess.CloseWithMsg(melody.FormatCloseMessage(code, reason))
}

func (so *socket) hardClose(code int, reason string) {
	ws := so.sess.WebsocketConnection()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	ws.Close()
}

// handleRealtime upgrades to the realtime protocol. A token in the
// Authorization header is checked before the upgrade, so a bad one gets a
// plain 401; browsers send theirs in the first frame instead.
func (s *Server) handleRealtime() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		so := &socket{srv: s}
		if tok := bearer(r); tok != "" {
			p, err := s.hub.Authenticate(r.Context(), tok)
			if err != nil {
				writeError(w, s.log, err)
				return
			}
			so.header = &p
		}
		s.sockets.Add(1)
		defer s.sockets.Done()
		if err := s.mel.HandleRequestWithKeys(w, r, map[string]any{"socket": so}); err != nil {
			s.log.Debug("websocket upgrade failed", "err", err)
		}
	})
}

func (s *Server) onConnect(sess *melody.Session) {
	so := socketOf(sess)
	so.sess = sess
	so.mu.Lock()
	so.timer = time.AfterFunc(s.cfg.AuthTimeout, func() {
		so.mu.Lock()
		authed := so.client != nil
		so.mu.Unlock()
		if !authed {
			so.Close(chat.CloseAuthFailed, "auth timeout")
		}
	})
	so.mu.Unlock()
}

func (s *Server) onDisconnect(sess *melody.Session) {
	so := socketOf(sess)
	so.mu.Lock()
	if so.timer != nil {
		so.timer.Stop()
	}
	c := so.client
	so.mu.Unlock()
	if c != nil {
		s.hub.Disconnect(c)
	}
}

func (s *Server) onError(sess *melody.Session, err error) {
	if errors.Is(err, melody.ErrMessageBufferFull) {
		so := socketOf(sess)
		if so != nil && !so.overflow.Swap(true) {
			so.hardClose(chat.CloseTooSlow, "too slow")
		}
		return
	}
	s.log.Debug("websocket error", "err", err)
}

// request is a client frame; reply answers it.
type request struct {
	Op   string          `json:"op"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
}

type reply struct {
	Ref   string     `json:"ref"`
	OK    bool       `json:"ok"`
	Data  any        `json:"data,omitempty"`
	Error *errorBody `json:"error,omitempty"`
}

func (so *socket) reply(ref string, data any, err error) {
	rp := reply{Ref: ref, OK: err == nil, Data: data}
	if err != nil {
		_, body := problem(so.srv.log, err)
		rp.Data, rp.Error = nil, &body
	} else if data == nil {
		rp.Data = struct{}{}
	}
	b, mErr := json.Marshal(rp)
	if mErr != nil {
		so.srv.log.Error("encode reply", "err", mErr)
		return
	}
	so.Send(b)
}

func (s *Server) onMessage(sess *melody.Session, frame []byte) {
	so := socketOf(sess)
	if int64(len(frame)) > s.cfg.MaxFrameBytes {
		so.Close(chat.CloseTooBig, "frame too big")
		return
	}
	var req request
	if err := decodeStrict(frame, &req); err != nil {
		so.reply("", nil, err)
		return
	}
	so.mu.Lock()
	c := so.client
	so.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if c == nil {
		s.authenticate(ctx, so, req)
		return
	}
	op, ok := realtimeOps[req.Op]
	if !ok {
		err := &chat.Error{Kind: chat.ErrInvalid, Code: "unknown_op", Msg: "unknown op " + req.Op}
		if req.Op == "auth" {
			err = &chat.Error{Kind: chat.ErrConflict, Code: "conflict", Msg: "already authenticated"}
		}
		so.reply(req.Ref, nil, err)
		return
	}
	data, err := op(ctx, c, req.Data)
	so.reply(req.Ref, data, err)
	if errors.Is(err, chat.ErrUnauthorized) {
		so.Close(chat.CloseAuthFailed, "token expired")
	}
}

// authenticate handles the first frame, which must be auth. A failure is
// answered, then the connection is closed with 4001.
func (s *Server) authenticate(ctx context.Context, so *socket, req request) {
	fail := func(err error) {
		so.reply(req.Ref, nil, err)
		so.Close(chat.CloseAuthFailed, "authentication failed")
	}
	if req.Op != "auth" {
		fail(&chat.Error{Kind: chat.ErrUnauthorized, Code: "unauthorized", Msg: "the first frame must be auth"})
		return
	}
	var in struct {
		Token  string       `json:"token"`
		Resume *chat.Resume `json:"resume"`
	}
	if err := decodeStrict(req.Data, &in); err != nil {
		fail(err)
		return
	}
	var p chat.Participant
	var err error
	switch {
	case in.Token != "":
		p, err = s.hub.Authenticate(ctx, in.Token)
	case so.header != nil:
		p = *so.header
	default:
		err = &chat.Error{Kind: chat.ErrUnauthorized, Code: "unauthorized", Msg: "token required"}
	}
	if err != nil {
		fail(err)
		return
	}
	c, data, err := s.hub.Connect(ctx, p, so, in.Resume)
	if err != nil {
		fail(err)
		return
	}
	so.mu.Lock()
	so.client = c
	so.timer.Stop()
	so.mu.Unlock()
	so.reply(req.Ref, data, nil)
	c.Ready()
}

// opFunc runs one realtime operation for an authenticated client.
type opFunc func(ctx context.Context, c *chat.Client, data json.RawMessage) (any, error)

// op decodes an operation's data strictly into T before calling f.
func op[T any, R any](f func(*chat.Client, context.Context, T) (R, error)) opFunc {
	return func(ctx context.Context, c *chat.Client, data json.RawMessage) (any, error) {
		var in T
		if err := decodeStrict(data, &in); err != nil {
			return nil, err
		}
		return f(c, ctx, in)
	}
}

// noData is the data of operations that take none.
type noData struct{}

func ping(_ *chat.Client, _ context.Context, _ noData) (struct{}, error) { return struct{}{}, nil }
