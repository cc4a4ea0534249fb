package web_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/chat"
	"parley/web"
)

// TestParticipantsSeeChangesInSeqOrder: two participants send, edit, pin,
// unpin and delete; both see every change, in the same order, by seq.
func TestParticipantsSeeChangesInSeqOrder(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	alice := s.join(s.participant(m.ID, "Alice", "host").Token)
	bob := s.join(s.participant(m.ID, "Bob", "participant").Token)

	a1 := alice.sendText("hello")
	b1 := bob.sendText("hi alice")
	var edited chat.Message
	alice.ok("chat.edit", map[string]any{"id": a1.ID, "message": "hello, bob"}, &edited)
	if !edited.IsEdited || edited.Message != "hello, bob" {
		t.Fatalf("edit reply = %+v", edited)
	}
	bob.ok("chat.pin", map[string]any{"id": a1.ID}, nil)
	bob.ok("chat.unpin", map[string]any{"id": a1.ID}, nil)
	var del chat.DeleteResult
	bob.ok("chat.delete", map[string]any{"id": b1.ID}, &del)

	want := []string{"chat.message", "chat.message", "chat.updated", "chat.pinned", "chat.unpinned", "chat.deleted"}
	for _, c := range []*client{alice, bob} {
		var last int64
		for i, name := range want {
			f := c.event(name)
			var seq struct{ Seq int64 }
			json.Unmarshal(f.Data, &seq)
			if seq.Seq <= last {
				t.Fatalf("event %d %s seq %d after %d", i, name, seq.Seq, last)
			}
			last = seq.Seq
		}
		if last != del.Seq {
			t.Fatalf("last seq %d, delete reply seq %d", last, del.Seq)
		}
		c.quiet()
	}
	// The deleted message is gone from history; the edit is kept.
	var h chat.HistoryResult
	bob.ok("chat.history", map[string]any{}, &h)
	if len(h.Messages) != 1 || h.Messages[0].Message != "hello, bob" || !h.Messages[0].IsEdited {
		t.Fatalf("history = %+v", h.Messages)
	}
}

// TestConcurrentSendersOneOrder: many senders at once (batched by group
// commit) and every receiver sees one gap-free seq order.
func TestConcurrentSendersOneOrder(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	const senders, each = 4, 25
	var clients []*client
	for i := 0; i < senders; i++ {
		clients = append(clients, s.join(s.participant(m.ID, fmt.Sprintf("P%d", i), "participant").Token))
	}
	watcher := s.join(s.participant(m.ID, "Watcher", "participant").Token)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				c.send(map[string]any{"op": "chat.send", "ref": fmt.Sprint(j), "data": map[string]any{"type": "text", "message": fmt.Sprintf("%d-%d", i, j)}})
			}
		}()
	}
	wg.Wait()
	var prev int64
	for k := 0; k < senders*each; k++ {
		msg := watcher.event("chat.message").message(t)
		if prev != 0 && msg.Seq != prev+1 {
			t.Fatalf("seq %d after %d: gap or reorder", msg.Seq, prev)
		}
		prev = msg.Seq
	}
}

func TestPrivateMessagesReachOnlySenderAndTargets(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb, pc := s.participant(m.ID, "Alice", "participant"), s.participant(m.ID, "Bob", "participant"), s.participant(m.ID, "Carol", "participant")
	alice, bob, carol := s.join(pa.Token), s.join(pb.Token), s.join(pc.Token)

	var priv chat.Message
	alice.ok("chat.send", map[string]any{"type": "text", "message": "psst bob", "target_user_ids": []string{pb.ID}}, &priv)
	if len(priv.TargetUserIDs) != 1 || priv.TargetUserIDs[0] != pb.ID {
		t.Fatalf("targets = %v", priv.TargetUserIDs)
	}
	pub := alice.sendText("hello all")
	alice.ok("chat.edit", map[string]any{"id": priv.ID, "message": "psst bob!"}, nil)

	for _, c := range []*client{alice, bob} {
		if got := c.event("chat.message").message(t); got.ID != priv.ID {
			t.Fatalf("first message = %s", got.ID)
		}
		c.event("chat.message")
		c.event("chat.updated")
		c.quiet()
	}
	if got := carol.event("chat.message").message(t); got.ID != pub.ID {
		t.Fatalf("carol got %s, want only the public message", got.ID)
	}
	carol.quiet()

	// History, the private thread, pins and edits of it: all closed to Carol.
	var h chat.HistoryResult
	carol.ok("chat.history", map[string]any{}, &h)
	if len(h.Messages) != 1 || h.Messages[0].ID != pub.ID {
		t.Fatalf("carol history = %+v", h.Messages)
	}
	carol.fail("chat.pin", map[string]any{"id": priv.ID}, "not_found")
	carol.fail("chat.history", map[string]any{"before": priv.ID}, "not_found")
	bob.ok("chat.history", map[string]any{"with_user_id": pa.ID}, &h)
	if len(h.Messages) != 1 || h.Messages[0].ID != priv.ID {
		t.Fatalf("bob's thread with alice = %+v", h.Messages)
	}
	carol.ok("chat.history", map[string]any{"with_user_id": pa.ID}, &h)
	if len(h.Messages) != 0 {
		t.Fatalf("carol's thread with alice = %+v", h.Messages)
	}

	// Resume from before the private message: Carol's replay skips it.
	carol.ws.Close()
	carol2 := s.connect()
	carol2.authenticate(map[string]any{"token": pc.Token, "resume": map[string]any{"epoch": carol.auth.Epoch, "seq": 0}})
	if got := carol2.event("chat.message").message(t); got.ID != pub.ID {
		t.Fatalf("carol replay = %s", got.ID)
	}
	carol2.event("resumed")
	for _, r := range carol2.auth.Recent {
		if r.ID == priv.ID {
			t.Fatal("private message in carol's recent")
		}
	}
}

func TestPermissions(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	host := s.join(s.participant(m.ID, "Host", "host").Token)
	alice := s.join(s.participant(m.ID, "Alice", "participant").Token)
	pb := s.participant(m.ID, "Bob", "participant")
	bob := s.join(pb.Token)
	viewer := s.join(s.participant(m.ID, "Vera", "viewer").Token)

	viewer.fail("chat.send", map[string]any{"type": "text", "message": "can I?"}, "forbidden")
	viewer.fail("chat.send", map[string]any{"type": "text", "message": "psst", "target_user_ids": []string{pb.ID}}, "forbidden")
	a := alice.sendText("alice's")
	bob.fail("chat.edit", map[string]any{"id": a.ID, "message": "mine now"}, "forbidden")
	bob.fail("chat.delete", map[string]any{"id": a.ID}, "forbidden")
	viewer.fail("chat.pin", map[string]any{"id": a.ID}, "forbidden")
	bob.ok("chat.pin", map[string]any{"id": a.ID}, nil) // anyone may pin
	host.ok("chat.edit", map[string]any{"id": a.ID, "message": "moderated"}, nil)
	host.ok("chat.delete", map[string]any{"id": a.ID}, nil)
	// The viewer still reads everything that happened.
	for _, e := range []string{"chat.message", "chat.pinned", "chat.updated", "chat.deleted"} {
		viewer.event(e)
	}
	// A custom preset that may not send privately; patching a participant
	// onto it applies to its live connection.
	s.mustAPI("POST", "/v2/presets", map[string]any{"name": "public-only", "chat": map[string]any{
		"public": map[string]any{"can_send": true, "text": true}, "private": map[string]any{"can_receive": true}}}, 201, nil)
	s.mustAPI("PATCH", "/v2/meetings/"+m.ID+"/participants/"+pb.ID, map[string]any{"preset_name": "public-only"}, 200, nil)
	bob.fail("chat.send", map[string]any{"type": "text", "message": "psst", "target_user_ids": []string{alice.auth.Self.ID}}, "forbidden")
	bob.sendText("public is fine")
}

func TestRateLimitRefusesThe181stAndResets(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	alice := s.join(s.participant(m.ID, "Alice", "participant").Token)
	bob := s.join(s.participant(m.ID, "Bob", "participant").Token)
	for i := 0; i < 180; i++ {
		alice.sendText(fmt.Sprint(i))
	}
	r := alice.fail("chat.send", map[string]any{"type": "text", "message": "one too many"}, "rate_limited")
	if r.Error.RetryAfterMS <= 0 || r.Error.RetryAfterMS > 60000 {
		t.Fatalf("retry_after_ms = %d", r.Error.RetryAfterMS)
	}
	// Edits count too, and the refusals stored nothing.
	var h chat.HistoryResult
	bob.ok("chat.history", map[string]any{"limit": 100}, &h)
	last := h.Messages[len(h.Messages)-1]
	if last.Message != "179" {
		t.Fatalf("last stored = %q", last.Message)
	}
	alice.fail("chat.edit", map[string]any{"id": last.ID, "message": "x"}, "rate_limited")
	bob.sendText("bob is not limited by alice")

	for i := 0; i < 181; i++ {
		alice.event("chat.message") // her own 180 and bob's
	}
	alice.quiet() // no reset before the clock moves
	s.clock.Advance(time.Duration(r.Error.RetryAfterMS) * time.Millisecond)
	var reset struct{ Kind string }
	json.Unmarshal(alice.event("rate_limit.reset").Data, &reset)
	if reset.Kind != "messages" {
		t.Fatalf("reset kind = %q", reset.Kind)
	}
	alice.sendText("after the reset")
}

func TestBadInput(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	other := s.meeting(map[string]any{"title": "Other"})
	alice := s.join(s.participant(m.ID, "Alice", "participant").Token)
	stranger := s.join(s.participant(other.ID, "Stranger", "participant").Token)
	foreign := stranger.sendText("elsewhere")

	alice.send("{not json")
	if f := alice.next(); f.OK || f.Error.Code != "invalid_request" {
		t.Fatalf("malformed JSON: %+v", f)
	}
	alice.send(map[string]any{"op": "ping", "ref": "x", "extra": 1})
	if f := alice.next(); f.OK || f.Error.Code != "invalid_request" {
		t.Fatalf("unknown envelope field: %+v", f)
	}
	alice.fail("chat.send", map[string]any{"type": "text", "message": "hi", "colour": "red"}, "invalid_request")
	alice.fail("chat.frobnicate", map[string]any{}, "unknown_op")
	alice.fail("chat.send", map[string]any{"type": "text", "message": strings.Repeat("é", 2001)}, "text_too_long")
	alice.fail("chat.send", map[string]any{"type": "text", "message": "   "}, "invalid_request")
	alice.fail("chat.send", map[string]any{"type": "poll", "message": "?"}, "invalid_request")
	alice.fail("chat.send", map[string]any{"type": "text", "message": "x", "metadata": map[string]any{"nested": map[string]any{}}}, "invalid_request")
	alice.fail("chat.send", map[string]any{"type": "text", "message": "x", "metadata": map[string]any{"big": strings.Repeat("a", 5000)}}, "invalid_request")
	alice.fail("chat.send", map[string]any{"type": "text", "message": "x", "target_user_ids": []string{stranger.auth.Self.ID}}, "not_found")
	alice.fail("chat.send", map[string]any{"type": "text", "message": "x", "reply_to": foreign.ID}, "not_found")
	alice.fail("chat.edit", map[string]any{"id": foreign.ID, "message": "x"}, "not_found")
	alice.fail("chat.delete", map[string]any{"id": foreign.ID}, "not_found")
	alice.fail("chat.history", map[string]any{"limit": 101}, "invalid_request")
	alice.send(map[string]any{"op": "ping", "ref": "t", "data": map[string]any{}})
	alice.next()
	// 2000 characters exactly is fine, even when each is 2 bytes.
	alice.sendText(strings.Repeat("é", 2000))
	// Nothing above was stored except that one.
	var h chat.HistoryResult
	alice.ok("chat.history", map[string]any{}, &h)
	if len(h.Messages) != 1 {
		t.Fatalf("stored %d messages", len(h.Messages))
	}
	// An oversize frame closes the connection with 4009.
	alice.send(map[string]any{"op": "chat.send", "ref": "big", "data": map[string]any{"type": "text", "message": strings.Repeat("a", 70000)}})
	if code := alice.closeCode(); code != chat.CloseTooBig {
		t.Fatalf("close code %d, want 4009", code)
	}
}

func TestAuth(t *testing.T) {
	s := newTestServer(t, withWeb(func(c *web.Config) { c.AuthTimeout = 200 * time.Millisecond }))
	m := s.meeting(nil)
	p := s.participant(m.ID, "Alice", "participant")

	t.Run("first frame must be auth", func(t *testing.T) {
		c := s.connect()
		c.t = t
		c.send(map[string]any{"op": "ping", "ref": "1"})
		if f := c.next(); f.OK || f.Error.Code != "unauthorized" {
			t.Fatalf("got %+v", f)
		}
		if code := c.closeCode(); code != chat.CloseAuthFailed {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		c := s.connect()
		c.t = t
		c.send(map[string]any{"op": "auth", "ref": "1", "data": map[string]any{"token": "nope"}})
		if f := c.next(); f.OK || f.Error.Code != "unauthorized" {
			t.Fatalf("got %+v", f)
		}
		if code := c.closeCode(); code != chat.CloseAuthFailed {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c := s.connect()
		c.t = t
		if code := c.closeCode(); code != chat.CloseAuthFailed {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("header token", func(t *testing.T) {
		ws, _, err := s.dialRaw(http.Header{"Authorization": {"Bearer " + p.Token}})
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, ws)
		c.authenticate(map[string]any{})
		if c.auth.Self.ID != p.ID {
			t.Fatalf("self = %+v", c.auth.Self)
		}
		_, res, err := s.dialRaw(http.Header{"Authorization": {"Bearer wrong"}})
		if err == nil || res.StatusCode != 401 {
			t.Fatalf("bad header token: err %v", err)
		}
	})
	t.Run("cross-origin refused", func(t *testing.T) {
		_, res, err := s.dialRaw(http.Header{"Origin": {"https://evil.example"}})
		if err == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin upgrade: err %v", err)
		}
		ws, _, err := s.dialRaw(http.Header{"Origin": {s.URL}})
		if err != nil {
			t.Fatalf("same-origin upgrade: %v", err)
		}
		ws.Close()
	})
	t.Run("expired token", func(t *testing.T) {
		c := s.join(p.Token)
		c.t = t
		s.clock.Advance(25 * time.Hour)
		c.fail("chat.send", map[string]any{"type": "text", "message": "late"}, "unauthorized")
		if code := c.closeCode(); code != chat.CloseAuthFailed {
			t.Fatalf("close %d", code)
		}
		c2 := s.connect()
		c2.send(map[string]any{"op": "auth", "ref": "1", "data": map[string]any{"token": p.Token}})
		if f := c2.next(); f.OK {
			t.Fatal("expired token accepted")
		}
	})
}

func TestIdempotentClientID(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa := s.participant(m.ID, "Alice", "participant")
	alice := s.join(pa.Token)
	bob := s.join(s.participant(m.ID, "Bob", "participant").Token)
	send := map[string]any{"type": "text", "message": "once", "client_id": "c-1"}
	var first, again chat.Message
	alice.ok("chat.send", send, &first)
	alice.ok("chat.send", send, &again)
	if first.ID != again.ID || first.Seq != again.Seq {
		t.Fatalf("retry made %+v, first %+v", again, first)
	}
	bob.event("chat.message")
	bob.quiet()
	s.restart()
	alice = s.join(pa.Token)
	alice.ok("chat.send", send, &again)
	if first.ID != again.ID {
		t.Fatal("retry after restart stored a new message")
	}
	var h chat.HistoryResult
	alice.ok("chat.history", map[string]any{}, &h)
	if len(h.Messages) != 1 {
		t.Fatalf("history has %d messages", len(h.Messages))
	}
}

func TestRestartKeepsEverythingAndResumes(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb := s.participant(m.ID, "Alice", "host"), s.participant(m.ID, "Bob", "participant")
	alice, bob := s.join(pa.Token), s.join(pb.Token)
	keep := alice.sendText("before restart")
	alice.ok("chat.pin", map[string]any{"id": keep.ID}, nil)
	bob.event("chat.message")
	pinned := bob.event("chat.pinned").message(t)
	epoch := bob.auth.Epoch

	s.restart()
	if code := bob.closeCode(); code != chat.CloseGoingAway {
		t.Fatalf("shutdown close code %d, want 1001", code)
	}
	alice = s.join(pa.Token)
	if len(alice.auth.Recent) != 1 || alice.auth.Recent[0].Message != "before restart" || len(alice.auth.Pinned) != 1 {
		t.Fatalf("after restart: recent %+v pinned %+v", alice.auth.Recent, alice.auth.Pinned)
	}
	missed := alice.sendText("while bob was away")
	// Bob resumes from the last seq he saw and gets exactly what he missed.
	bob = s.connect()
	bob.authenticate(map[string]any{"token": pb.Token, "resume": map[string]any{"epoch": epoch, "seq": pinned.Seq}})
	if got := bob.event("chat.message").message(t); got.ID != missed.ID {
		t.Fatalf("replayed %s, want %s", got.ID, missed.ID)
	}
	var res struct{ Recovered bool }
	json.Unmarshal(bob.event("resumed").Data, &res)
	if !res.Recovered {
		t.Fatal("not recovered")
	}
	bob.quiet()
	// A different epoch can't be filled: the client is told to reload.
	b2 := s.connect()
	b2.authenticate(map[string]any{"token": pb.Token, "resume": map[string]any{"epoch": "other", "seq": 1}})
	json.Unmarshal(b2.event("resumed").Data, &res)
	if res.Recovered {
		t.Fatal("recovered across epochs")
	}
}

func TestResumeSkipsDeletedAndSeesLiveEventsOnce(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb := s.participant(m.ID, "Alice", "participant"), s.participant(m.ID, "Bob", "participant")
	alice, bob := s.join(pa.Token), s.join(pb.Token)
	seq := bob.auth.Seq
	bob.ws.Close()
	gone := alice.sendText("regretted")
	alice.ok("chat.delete", map[string]any{"id": gone.ID}, nil)
	kept := alice.sendText("kept")
	bob = s.connect()
	bob.authenticate(map[string]any{"token": pb.Token, "resume": map[string]any{"epoch": alice.auth.Epoch, "seq": seq}})
	// The deleted message's text is not replayed, only its deletion.
	if f := bob.event("chat.deleted"); !strings.Contains(string(f.Data), gone.ID) {
		t.Fatalf("deleted = %s", f.Data)
	}
	if got := bob.event("chat.message").message(t); got.ID != kept.ID {
		t.Fatalf("replayed %s", got.ID)
	}
	bob.event("resumed")
	live := alice.sendText("live")
	if got := bob.event("chat.message").message(t); got.ID != live.ID {
		t.Fatalf("live %s", got.ID)
	}
	bob.quiet()
}

func TestPresenceAndSessionLifecycle(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb := s.participant(m.ID, "Alice", "participant"), s.participant(m.ID, "Bob", "participant")
	alice := s.join(pa.Token)
	if alice.auth.Session == nil || alice.auth.Session.Status != "LIVE" {
		t.Fatalf("session = %+v", alice.auth.Session)
	}
	sessionID := alice.auth.Session.ID
	bob := s.join(pb.Token)
	if len(bob.auth.Participants) != 2 {
		t.Fatalf("online = %+v", bob.auth.Participants)
	}
	var pres struct {
		UserID string `json:"user_id"`
		Status string
	}
	json.Unmarshal(alice.event("presence").Data, &pres)
	if pres.UserID != pb.ID || pres.Status != "online" {
		t.Fatalf("presence = %+v", pres)
	}
	// A second tab is the same presence: no event for it, none when it leaves.
	tab := s.join(pb.Token)
	tab.ws.Close()
	tab.closeCode()
	bob.ws.Close()
	bob.closeCode()
	json.Unmarshal(alice.event("presence").Data, &pres)
	if pres.UserID != pb.ID || pres.Status != "offline" {
		t.Fatalf("presence = %+v", pres)
	}
	alice.quiet()

	// The session outlives its last participant by the keep-alive.
	alice.ws.Close()
	alice.closeCode()
	waitUntil(t, func() bool { return s.hub.Online(m.ID) == 0 })
	var sess chat.Session
	s.mustAPI("GET", "/v2/sessions/"+sessionID, nil, 200, &sess)
	if sess.Status != "LIVE" {
		t.Fatalf("ended before keep-alive: %+v", sess)
	}
	s.clock.Advance(61 * time.Second)
	s.mustAPI("GET", "/v2/sessions/"+sessionID, nil, 200, &sess)
	if sess.Status != "ENDED" || sess.EndedAt == nil {
		t.Fatalf("after keep-alive: %+v", sess)
	}
	var who []chat.SessionParticipant
	s.mustAPI("GET", "/v2/sessions/"+sessionID+"/participants", nil, 200, &who)
	if len(who) != 2 || who[0].LeftAt == nil || who[1].LeftAt == nil {
		t.Fatalf("session participants = %+v", who)
	}
	// The next join starts a new session.
	alice = s.join(pa.Token)
	if alice.auth.Session.ID == sessionID {
		t.Fatal("joined an ended session")
	}
	var list []chat.Session
	s.mustAPI("GET", "/v2/sessions?meeting_id="+m.ID, nil, 200, &list)
	if len(list) != 2 {
		t.Fatalf("sessions = %+v", list)
	}
}

// waitUntil polls state the server changes on its own goroutines (a
// disconnect handler), bounded; protocol frames can't signal it.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAdminChangesReachSockets(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb := s.participant(m.ID, "Alice", "participant"), s.participant(m.ID, "Bob", "participant")
	alice, bob := s.join(pa.Token), s.join(pb.Token)

	s.mustAPI("DELETE", "/v2/meetings/"+m.ID+"/participants/"+pb.ID, nil, 200, nil)
	if code := bob.closeCode(); code != chat.CloseRemoved {
		t.Fatalf("removed participant closed with %d", code)
	}
	var tok struct{ Token string }
	s.mustAPI("POST", "/v2/meetings/"+m.ID+"/participants/"+pa.ID+"/token", nil, 200, &tok)
	if code := alice.closeCode(); code != chat.CloseAuthFailed {
		t.Fatalf("old token's connection closed with %d", code)
	}
	old := s.connect()
	old.send(map[string]any{"op": "auth", "ref": "1", "data": map[string]any{"token": pa.Token}})
	if f := old.next(); f.OK {
		t.Fatal("old token still works")
	}
	alice = s.join(tok.Token)
	s.mustAPI("PATCH", "/v2/meetings/"+m.ID, map[string]any{"status": "INACTIVE"}, 200, nil)
	var updated chat.Meeting
	json.Unmarshal(alice.event("meeting.updated").Data, &updated)
	if updated.Status != "INACTIVE" {
		t.Fatalf("meeting.updated %+v", updated)
	}
	var ended struct {
		SessionID string `json:"session_id"`
	}
	json.Unmarshal(alice.event("session.ended").Data, &ended)
	if ended.SessionID != alice.auth.Session.ID {
		t.Fatalf("session.ended for %q, want %q", ended.SessionID, alice.auth.Session.ID)
	}
	var sess chat.Session
	s.mustAPI("GET", "/v2/sessions/"+ended.SessionID, nil, 200, &sess)
	if sess.Status != "ENDED" {
		t.Fatalf("session after INACTIVE: %+v", sess)
	}
	if code := alice.closeCode(); code != chat.CloseRemoved {
		t.Fatalf("inactive meeting closed with %d", code)
	}
	c := s.connect()
	c.send(map[string]any{"op": "auth", "ref": "1", "data": map[string]any{"token": tok.Token}})
	if f := c.next(); f.OK || f.Error.Code != "meeting_inactive" {
		t.Fatalf("join of inactive meeting: %+v", f)
	}
}

func TestHistoryFilters(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb := s.participant(m.ID, "Alice", "participant"), s.participant(m.ID, "Bob", "participant")
	alice, bob := s.join(pa.Token), s.join(pb.Token)
	var ids []string
	for i := 0; i < 30; i++ {
		c := alice
		if i%3 == 0 {
			c = bob
		}
		ids = append(ids, c.sendText(fmt.Sprint(i)).ID)
	}
	alice.ok("chat.pin", map[string]any{"id": ids[5]}, nil)
	var h chat.HistoryResult
	alice.ok("chat.history", map[string]any{}, &h)
	if len(h.Messages) != 25 || !h.HasMore || h.Messages[24].ID != ids[29] || h.Messages[0].ID != ids[5] {
		t.Fatalf("default page: %d has_more=%v", len(h.Messages), h.HasMore)
	}
	alice.ok("chat.history", map[string]any{"before": ids[5], "limit": 10}, &h)
	if len(h.Messages) != 5 || h.HasMore || h.Messages[0].ID != ids[0] {
		t.Fatalf("before: %+v", h)
	}
	alice.ok("chat.history", map[string]any{"after": ids[25]}, &h)
	if len(h.Messages) != 4 || h.Messages[0].ID != ids[26] {
		t.Fatalf("after: %d", len(h.Messages))
	}
	alice.ok("chat.history", map[string]any{"user_id": pb.ID, "limit": 100}, &h)
	if len(h.Messages) != 10 {
		t.Fatalf("by user: %d", len(h.Messages))
	}
	alice.ok("chat.history", map[string]any{"pinned": true}, &h)
	if len(h.Messages) != 1 || h.Messages[0].ID != ids[5] {
		t.Fatalf("pinned: %+v", h.Messages)
	}
	alice.ok("chat.history", map[string]any{"type": "image"}, &h)
	if len(h.Messages) != 0 {
		t.Fatalf("images: %d", len(h.Messages))
	}
	future := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	alice.ok("chat.history", map[string]any{"before": future, "limit": 3}, &h)
	if len(h.Messages) != 3 || h.Messages[2].ID != ids[29] {
		t.Fatalf("before time: %d", len(h.Messages))
	}
	var reply chat.Message
	bob.ok("chat.send", map[string]any{"type": "text", "message": "re", "reply_to": ids[1], "metadata": map[string]any{"k": "v", "n": 1.5, "b": true}}, &reply)
	if reply.ReplyTo == nil || *reply.ReplyTo != ids[1] || reply.Metadata["k"] != "v" {
		t.Fatalf("reply = %+v", reply)
	}
}

// TestSlowClientIsClosed: a client that stops reading is closed, and the
// others keep receiving without waiting for it.
func TestSlowClientIsClosed(t *testing.T) {
	s := newTestServer(t,
		withWeb(func(c *web.Config) { c.QueueSize = 4 }),
		withHub(func(c *chat.Config) { c.MaxTextLength = 60000; c.MessagesPerMinute = 100000 }))
	m := s.meeting(nil)
	alice := s.join(s.participant(m.ID, "Alice", "participant").Token)
	fast := s.join(s.participant(m.ID, "Fast", "participant").Token)
	// The slow client authenticates, then never reads again; a small
	// receive buffer makes its TCP window fill quickly.
	d := *websocket.DefaultDialer
	d.NetDial = func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}
	ws, _, err := s.dialWith(&d, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteJSON(map[string]any{"op": "auth", "ref": "1", "data": map[string]any{"token": s.participant(m.ID, "Slow", "participant").Token}})
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 50000)
	closedAt := -1
	for i := 0; i < 400 && closedAt < 0; i++ {
		alice.sendText(big)
		fast.event("chat.message")
		if s.hub.Online(m.ID) == 2 {
			closedAt = i
		}
	}
	if closedAt < 0 {
		t.Fatal("slow client never closed")
	}
	alice.sendText("still flowing")
	fast.event("chat.message")
}

// TestPersistChatOff: a meeting that doesn't persist chat starts each
// session empty; one that does shows history across sessions.
func TestPersistChatOff(t *testing.T) {
	s := newTestServer(t)
	for _, persist := range []bool{false, true} {
		m := s.meeting(map[string]any{"title": "t", "persist_chat": persist})
		p := s.participant(m.ID, "Alice", "participant")
		a := s.join(p.Token)
		a.sendText("first session")
		first := a.auth.Session.ID
		a.ws.Close()
		a.closeCode()
		waitUntil(t, func() bool { return s.hub.Online(m.ID) == 0 })
		s.clock.Advance(time.Hour)
		a = s.join(p.Token)
		if a.auth.Session.ID == first {
			t.Fatal("same session after keep-alive")
		}
		var h chat.HistoryResult
		a.ok("chat.history", map[string]any{}, &h)
		want := 0
		if persist {
			want = 1
		}
		if len(a.auth.Recent) != want || len(h.Messages) != want {
			t.Fatalf("persist_chat=%v: recent %d, history %d, want %d", persist, len(a.auth.Recent), len(h.Messages), want)
		}
	}
}
