package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"parley/chat"
	"parley/chat/chattest"
	"parley/storage"
	"parley/web"
)

const adminKey = "test-admin-key"

// testServer is a whole parley server on a real SQLite file and a real
// listening socket; restart reopens the same directory.
type testServer struct {
	t       *testing.T
	files   *storage.Files
	blobs   func(chat.Blobs) chat.Blobs // wraps the real blob store, to inject faults
	dir     string
	clock   *chattest.Clock
	hubCfg  chat.Config
	webCfg  web.Config
	store   *storage.Store
	hub     *chat.Hub
	web     *web.Server
	http    *httptest.Server
	URL     string
	stopped bool

	stopDeliveries func()
}

type option func(*testServer)

func withHub(f func(*chat.Config)) option            { return func(s *testServer) { f(&s.hubCfg) } }
func withWeb(f func(*web.Config)) option             { return func(s *testServer) { f(&s.webCfg) } }
func withBlobs(f func(chat.Blobs) chat.Blobs) option { return func(s *testServer) { s.blobs = f } }

func newTestServer(t *testing.T, opts ...option) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir(), clock: chattest.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)),
		hubCfg: chat.DefaultConfig(), webCfg: web.DefaultConfig()}
	s.webCfg.AdminKey = adminKey
	s.webCfg.ExportKey = []byte("test-export-key")
	s.webCfg.IPRate = 0
	for _, o := range opts {
		o(s)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start() {
	t := s.t
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, filepath.Join(s.dir, "parley.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.OpenFiles(filepath.Join(s.dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	var blobs chat.Blobs = files
	if s.blobs != nil {
		blobs = s.blobs(files)
	}
	// The listener comes first: file links are absolute.
	h := httptest.NewUnstartedServer(nil)
	s.URL = "http://" + h.Listener.Addr().String()
	cfg := s.hubCfg
	cfg.BaseURL = s.URL
	hub, err := chat.NewHub(ctx, chat.Options{Store: st, Blobs: blobs, Clock: s.clock, Config: cfg, NewLimiter: web.NewTokenBucket})
	if err != nil {
		t.Fatal(err)
	}
	s.store, s.hub, s.files = st, hub, files
	s.web = web.NewServer(s.webCfg, nil, hub, blobs, fstest.MapFS{"index.html": {Data: []byte("<!doctype html>client")}})
	h.Config.Handler = s.web
	h.Start()
	dctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.RunDeliveries(dctx, web.NewPoster(), s.web.ChatLink); close(done) }()
	s.stopDeliveries = func() { cancel(); <-done }
	s.http = h
	s.stopped = false
}

// stop shuts down the way main does: sockets closed with 1001, then the store.
func (s *testServer) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.http.Listener.Close()
	if err := s.web.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	s.http.Close()
	s.stopDeliveries()
	s.hub.Close()
	if err := s.store.Close(); err != nil {
		s.t.Errorf("close store: %v", err)
	}
	s.files.Close()
}

func (s *testServer) restart() {
	s.stop()
	s.start()
}

// api makes an admin API call and decodes the envelope.
func (s *testServer) api(method, path string, body any) (int, apiResp) {
	return s.request(method, path, body, "Bearer "+adminKey)
}

type apiResp struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Paging  *struct {
		TotalCount  int `json:"total_count"`
		StartOffset int `json:"start_offset"`
		EndOffset   int `json:"end_offset"`
	} `json:"paging"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *testServer) request(method, path string, body any, auth string) (int, apiResp) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out apiResp
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("%s %s: not JSON (%d): %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

func (s *testServer) mustAPI(method, path string, body any, want int, into any) {
	s.t.Helper()
	code, r := s.api(method, path, body)
	if code != want {
		s.t.Fatalf("%s %s = %d %+v, want %d", method, path, code, r.Error, want)
	}
	if into != nil {
		if err := json.Unmarshal(r.Data, into); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *testServer) meeting(body map[string]any) chat.Meeting {
	var m chat.Meeting
	if body == nil {
		body = map[string]any{"title": "Standup"}
	}
	s.mustAPI("POST", "/v2/meetings", body, 201, &m)
	return m
}

func (s *testServer) participant(meetingID, name, preset string) chat.Participant {
	var p chat.Participant
	s.mustAPI("POST", "/v2/meetings/"+meetingID+"/participants", map[string]any{
		"name": name, "preset_name": preset, "custom_participant_id": strings.ToLower(name),
	}, 201, &p)
	return p
}

// frame is any server frame: a reply or an event.
type frame struct {
	Ref   string          `json:"ref"`
	OK    bool            `json:"ok"`
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Code         string `json:"code"`
		Message      string `json:"message"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	} `json:"error"`
	Event string `json:"event"`
}

// client is a realtime connection that reads frames in the background;
// calls wait for their reply, and events queue until a test asks for them.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan frame
	closed chan struct{}
	mu     sync.Mutex
	err    error // the read error that ended the connection
	events []frame
	ref    int
	auth   chat.AuthReply
}

func (s *testServer) dialRaw(header http.Header) (*websocket.Conn, *http.Response, error) {
	return s.dialWith(websocket.DefaultDialer, header)
}

func (s *testServer) dialWith(d *websocket.Dialer, header http.Header) (*websocket.Conn, *http.Response, error) {
	return d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/v2/realtime", header)
}

func newClient(t *testing.T, ws *websocket.Conn) *client {
	c := &client{t: t, ws: ws, frames: make(chan frame, 100000), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("server sent non-JSON frame %q", b)
				continue
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return c
}

// join connects with a token and waits for the auth reply.
func (s *testServer) join(token string) *client {
	s.t.Helper()
	c := s.connect()
	c.authenticate(map[string]any{"token": token})
	return c
}

func (s *testServer) connect() *client {
	s.t.Helper()
	ws, _, err := s.dialRaw(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return newClient(s.t, ws)
}

func (c *client) authenticate(data map[string]any) {
	c.t.Helper()
	r := c.call("auth", data)
	if !r.OK {
		c.t.Fatalf("auth failed: %+v", r.Error)
	}
	if err := json.Unmarshal(r.Data, &c.auth); err != nil {
		c.t.Fatal(err)
	}
}

const waitFor = 10 * time.Second

// next returns the next frame, failing the test if none comes in time.
func (c *client) next() frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection closed: %v", c.closeErr())
	case <-time.After(waitFor):
		c.t.Fatal("timed out waiting for a frame")
	}
	return frame{}
}

func (c *client) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// call sends an operation and waits for its reply, keeping events that
// arrive meanwhile.
func (c *client) call(op string, data any) frame {
	c.t.Helper()
	c.ref++
	ref := strconv.Itoa(c.ref)
	msg := map[string]any{"op": op, "ref": ref}
	if data != nil {
		msg["data"] = data
	}
	c.send(msg)
	return c.replyTo(ref)
}

func (c *client) replyTo(ref string) frame {
	c.t.Helper()
	for {
		f := c.next()
		if f.Event != "" {
			c.events = append(c.events, f)
			continue
		}
		if f.Ref != ref {
			c.t.Fatalf("reply to %q while waiting for %q", f.Ref, ref)
		}
		return f
	}
}

// ok calls an operation that must succeed and decodes its data.
func (c *client) ok(op string, data any, into any) {
	c.t.Helper()
	r := c.call(op, data)
	if !r.OK {
		c.t.Fatalf("%s: %+v", op, r.Error)
	}
	if into != nil {
		if err := json.Unmarshal(r.Data, into); err != nil {
			c.t.Fatal(err)
		}
	}
}

// fail calls an operation that must fail with code.
func (c *client) fail(op string, data any, code string) frame {
	c.t.Helper()
	r := c.call(op, data)
	if r.OK || r.Error == nil || r.Error.Code != code {
		c.t.Fatalf("%s: got ok=%v %+v, want error %s", op, r.OK, r.Error, code)
	}
	return r
}

// event waits for the next event named name, skipping presence and typing
// unless those are asked for; other chat events in between fail the test.
func (c *client) event(name string) frame {
	c.t.Helper()
	for {
		var f frame
		if len(c.events) > 0 {
			f, c.events = c.events[0], c.events[1:]
		} else {
			f = c.next()
			if f.Event == "" {
				c.t.Fatalf("unexpected reply %+v while waiting for %s", f, name)
			}
		}
		if f.Event == name {
			return f
		}
		if f.Event == "presence" || f.Event == "typing" {
			continue
		}
		c.t.Fatalf("got event %s (%s) while waiting for %s", f.Event, f.Data, name)
	}
}

// message decodes a chat event's message.
func (f frame) message(t *testing.T) chat.Message {
	t.Helper()
	var m chat.Message
	if err := json.Unmarshal(f.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// quiet proves no chat event is waiting for the client: a ping's reply
// comes back with nothing but presence before it.
func (c *client) quiet() {
	c.t.Helper()
	c.ok("ping", nil, nil)
	for _, f := range c.events {
		if f.Event != "presence" && f.Event != "typing" {
			c.t.Fatalf("unexpected event %s: %s", f.Event, f.Data)
		}
	}
	c.events = nil
}

// closeCode waits for the server to close the connection and returns the code.
func (c *client) closeCode() int {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		c.t.Fatal("connection not closed")
	}
	var ce *websocket.CloseError
	if err := c.closeErr(); err != nil {
		if e, ok := err.(*websocket.CloseError); ok {
			ce = e
		}
	}
	if ce == nil {
		return websocket.CloseAbnormalClosure
	}
	return ce.Code
}

func (c *client) sendText(text string) chat.Message {
	c.t.Helper()
	var m chat.Message
	c.ok("chat.send", map[string]any{"type": "text", "message": text}, &m)
	return m
}
