package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/chat"
)

// receiver is a webhook endpoint that answers with the statuses it is
// given (then 200) and checks every signature the Standard Webhooks way.
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	secret   string
	mu       sync.Mutex
	statuses []int
	got      chan hookCall
}

type hookCall struct {
	ID      string
	Event   string
	Body    map[string]any
	Status  int
	Payload []byte
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{t: t, statuses: statuses, got: make(chan hookCall, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
		r.mu.Lock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
		status := 200
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "." + string(body)))
		if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); sig != want || id == "" {
			t.Errorf("bad signature %q for %s, want %q", sig, id, want)
		}
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
			t.Errorf("bad timestamp %q", ts)
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		event, _ := m["event"].(string)
		w.WriteHeader(status)
		r.got <- hookCall{ID: id, Event: event, Body: m, Status: status, Payload: body}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) next() hookCall {
	r.t.Helper()
	select {
	case c := <-r.got:
		return c
	case <-time.After(waitFor):
		r.t.Fatal("no webhook call")
	}
	return hookCall{}
}

// register creates a webhook for events pointing at the receiver.
func (r *receiver) register(s *testServer, events ...string) chat.Webhook {
	var w chat.Webhook
	s.mustAPI("POST", "/v2/webhooks", map[string]any{"name": "test", "url": r.srv.URL, "events": events}, 201, &w)
	r.mu.Lock()
	r.secret = w.Secret
	r.mu.Unlock()
	return w
}

func (s *testServer) deliveries(webhookID string) []chat.Delivery {
	var ds []chat.Delivery
	s.mustAPI("GET", "/v2/webhooks/"+webhookID+"/deliveries", nil, 200, &ds)
	return ds
}

// attemptsRecorded waits until the sender has recorded n attempts of the
// webhook's newest delivery; only then may the test move the clock.
func (s *testServer) attemptsRecorded(webhookID string, n int) chat.Delivery {
	var d chat.Delivery
	waitUntil(s.t, func() bool {
		ds := s.deliveries(webhookID)
		if len(ds) > 0 {
			d = ds[0]
		}
		return len(ds) > 0 && d.Attempts >= n
	})
	return d
}

func TestWebhookCRUD(t *testing.T) {
	s := newTestServer(t)
	var w chat.Webhook
	s.mustAPI("POST", "/v2/webhooks", map[string]any{"name": "ops", "url": "https://hooks.example/x", "events": []string{"meeting.started"}}, 201, &w)
	if !strings.HasPrefix(w.Secret, "whsec_") || !w.Enabled {
		t.Fatalf("created %+v", w)
	}
	if raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(w.Secret, "whsec_")); len(raw) != 32 {
		t.Fatalf("secret has %d bytes", len(raw))
	}
	var got chat.Webhook
	s.mustAPI("GET", "/v2/webhooks/"+w.ID, nil, 200, &got)
	if got.Secret != "" {
		t.Fatal("secret shown again")
	}
	var list []chat.Webhook
	s.mustAPI("GET", "/v2/webhooks", nil, 200, &list)
	if len(list) != 1 || list[0].Secret != "" {
		t.Fatalf("list %+v", list)
	}
	s.mustAPI("PATCH", "/v2/webhooks/"+w.ID, map[string]any{"enabled": false, "events": []string{"meeting.ended", "meeting.chatSynced"}}, 200, &got)
	if got.Enabled || len(got.Events) != 2 {
		t.Fatalf("patched %+v", got)
	}
	for _, bad := range []map[string]any{
		{"name": "x", "url": "ftp://x", "events": []string{"meeting.started"}},
		{"name": "x", "url": "https://x", "events": []string{"meeting.exploded"}},
		{"name": "x", "url": "https://x", "events": []string{}},
		{"name": "", "url": "https://x", "events": []string{"meeting.started"}},
	} {
		if code, _ := s.api("POST", "/v2/webhooks", bad); code != 400 {
			t.Errorf("%v: %d", bad, code)
		}
	}
	s.mustAPI("DELETE", "/v2/webhooks/"+w.ID, nil, 200, nil)
	if code, _ := s.api("GET", "/v2/webhooks/"+w.ID, nil); code != 404 {
		t.Fatalf("deleted webhook: %d", code)
	}
}

func TestWebhookRetriesServerErrors(t *testing.T) {
	s := newTestServer(t)
	r := newReceiver(t, 500, 429)
	w := r.register(s, "meeting.started")
	m := s.meeting(nil)
	a := s.join(s.participant(m.ID, "Alice", "participant").Token)

	first := r.next()
	if first.Event != "meeting.started" || first.Status != 500 {
		t.Fatalf("first call %+v", first)
	}
	meeting := first.Body["meeting"].(map[string]any)
	if meeting["id"] != m.ID || meeting["sessionId"] != a.auth.Session.ID || meeting["title"] != m.Title {
		t.Fatalf("payload %s", first.Payload)
	}
	d := s.attemptsRecorded(w.ID, 1)
	if d.Status != "pending" || d.LastStatus != 500 || d.NextAttemptAt == nil {
		t.Fatalf("after a 500: %+v", d)
	}
	s.clock.Advance(d.NextAttemptAt.Sub(s.clock.Now()) + time.Millisecond)
	second := r.next()
	if second.ID != first.ID || second.Status != 429 {
		t.Fatalf("retry %+v (id %s, first %s)", second, second.ID, first.ID)
	}
	d = s.attemptsRecorded(w.ID, 2)
	// Backoff doubles.
	if wait := d.NextAttemptAt.Sub(s.clock.Now()); wait < 10*time.Second || wait > 11*time.Second {
		t.Fatalf("second wait %v", wait)
	}
	s.clock.Advance(d.NextAttemptAt.Sub(s.clock.Now()) + time.Millisecond)
	if third := r.next(); third.ID != first.ID || third.Status != 200 {
		t.Fatalf("third %+v", third)
	}
	d = s.attemptsRecorded(w.ID, 3)
	if d.Status != "delivered" || d.Attempts != 3 {
		t.Fatalf("delivered? %+v", d)
	}
}

func TestWebhookDoesNotRetryClientErrors(t *testing.T) {
	s := newTestServer(t)
	r := newReceiver(t, 400)
	w := r.register(s, "meeting.participantJoined")
	m := s.meeting(nil)
	s.join(s.participant(m.ID, "Alice", "participant").Token)
	if c := r.next(); c.Status != 400 || c.Event != "meeting.participantJoined" {
		t.Fatalf("first %+v", c)
	}
	d := s.attemptsRecorded(w.ID, 1)
	if d.Status != "failed" || d.NextAttemptAt != nil {
		t.Fatalf("after a 400: %+v", d)
	}
	s.clock.Advance(3 * time.Hour)
	// The next event is delivered; the failed one is not tried again.
	bob := s.participant(m.ID, "Bob", "participant")
	s.join(bob.Token)
	c := r.next()
	if p := c.Body["participant"].(map[string]any); p["peerId"] != bob.ID || p["userDisplayName"] != "Bob" || p["customParticipantId"] != "bob" {
		t.Fatalf("second event %s", c.Payload)
	}
}

func TestWebhookSurvivesRestart(t *testing.T) {
	s := newTestServer(t)
	r := newReceiver(t, 503)
	w := r.register(s, "meeting.started")
	m := s.meeting(nil)
	s.join(s.participant(m.ID, "Alice", "participant").Token)
	first := r.next()
	d := s.attemptsRecorded(w.ID, 1)
	if d.Status != "pending" {
		t.Fatalf("%+v", d)
	}
	s.restart()
	s.clock.Advance(time.Minute)
	again := r.next()
	if again.ID != first.ID || again.Status != 200 {
		t.Fatalf("after restart %+v", again)
	}
	if d := s.attemptsRecorded(w.ID, 2); d.Status != "delivered" {
		t.Fatalf("%+v", d)
	}
}

func TestChatSyncedOnceAfterSessionEnds(t *testing.T) {
	s := newTestServer(t)
	r := newReceiver(t)
	w := r.register(s, "meeting.started", "meeting.ended", "meeting.participantLeft", "meeting.chatSynced")
	m := s.meeting(map[string]any{"title": "Retro"})
	pa := s.participant(m.ID, "Alice", "participant")
	a := s.join(pa.Token)
	sessionID := a.auth.Session.ID
	if c := r.next(); c.Event != "meeting.started" {
		t.Fatalf("got %s", c.Event)
	}
	a.sendText("for the record")
	a.ws.Close()
	if c := r.next(); c.Event != "meeting.participantLeft" || c.Body["participant"].(map[string]any)["leftAt"] == nil {
		t.Fatalf("got %s", c.Payload)
	}
	s.clock.Advance(59 * time.Second)
	a = s.join(pa.Token) // back within the keep-alive: same session, nothing ends
	if a.auth.Session.ID != sessionID {
		t.Fatal("new session within keep-alive")
	}
	a.ws.Close()
	if c := r.next(); c.Event != "meeting.participantLeft" {
		t.Fatalf("got %s", c.Event)
	}
	waitUntil(t, func() bool { return s.hub.Online(m.ID) == 0 })
	s.clock.Advance(61 * time.Second)

	calls := map[string]hookCall{}
	for len(calls) < 2 {
		c := r.next()
		calls[c.Event] = c
	}
	ended, synced := calls["meeting.ended"], calls["meeting.chatSynced"]
	if ended.Body["reason"] != "ALL_PARTICIPANTS_LEFT" || ended.Body["meeting"].(map[string]any)["endedAt"] == nil {
		t.Fatalf("ended %s", ended.Payload)
	}
	b := synced.Body
	if b["meetingId"] != m.ID || b["sessionId"] != sessionID || b["title"] != "Retro" || b["startedAt"] == nil || b["endedAt"] == nil || b["chatDownloadUrlExpiry"] == nil {
		t.Fatalf("chatSynced %s", synced.Payload)
	}
	res, body := get(t, b["chatDownloadUrl"].(string))
	if res.StatusCode != 200 || !strings.Contains(string(body), "for the record") {
		t.Fatalf("download: %d %s", res.StatusCode, body)
	}
	// Once: a new session starts and ends, and the first one's chatSynced
	// never comes again.
	s.join(pa.Token).ws.Close()
	seen := 0
	for n := 0; n < 2; n++ { // started, left
		if c := r.next(); c.Event == "meeting.chatSynced" {
			seen++
		}
	}
	count := 0
	for _, d := range s.deliveries(w.ID) {
		if d.Event == "meeting.chatSynced" {
			count++
		}
	}
	if seen != 0 || count != 1 {
		t.Fatalf("chatSynced deliveries %d, extra calls %d", count, seen)
	}
}
