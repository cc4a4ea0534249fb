package web_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"parley/chat"
)

type trio struct {
	m                 chat.Meeting
	pa, pb, pc        chat.Participant
	alice, bob, carol *client
}

func newTrio(s *testServer) *trio {
	tr := &trio{m: s.meeting(nil)}
	tr.pa = s.participant(tr.m.ID, "Alice", "host")
	tr.pb = s.participant(tr.m.ID, "Bob", "participant")
	tr.pc = s.participant(tr.m.ID, "Carol", "participant")
	tr.alice, tr.bob, tr.carol = s.join(tr.pa.Token), s.join(tr.pb.Token), s.join(tr.pc.Token)
	return tr
}

func TestReplies(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	orig := tr.alice.sendText("question?")
	var reply chat.Message
	tr.bob.ok("chat.send", map[string]any{"type": "text", "message": "answer", "reply_to": orig.ID}, &reply)
	if reply.ReplyTo == nil || *reply.ReplyTo != orig.ID {
		t.Fatalf("replyTo %v", reply.ReplyTo)
	}
	var priv chat.Message
	tr.alice.ok("chat.send", map[string]any{"type": "text", "message": "psst", "target_user_ids": []string{tr.pb.ID}}, &priv)
	tr.carol.fail("chat.send", map[string]any{"type": "text", "message": "re", "reply_to": priv.ID}, "not_found")
	tr.bob.ok("chat.send", map[string]any{"type": "text", "message": "re psst", "reply_to": priv.ID}, nil)
	tr.alice.ok("chat.delete", map[string]any{"id": orig.ID}, nil)
	tr.bob.fail("chat.send", map[string]any{"type": "text", "message": "late", "reply_to": orig.ID}, "not_found")
}

func TestReactions(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	msg := tr.alice.sendText("ship it?")
	for _, c := range []*client{tr.alice, tr.bob, tr.carol} {
		c.event("chat.message")
	}
	var r1, r2 chat.ReactResult
	tr.bob.ok("chat.react", map[string]any{"id": msg.ID, "reaction": "👍"}, &r1)
	if len(r1.Message.Reactions) != 1 || r1.Message.Reactions[0].ReactionID != r1.ReactionID || r1.Message.Reactions[0].UserID != tr.pb.ID {
		t.Fatalf("react %+v", r1)
	}
	for _, c := range []*client{tr.alice, tr.bob, tr.carol} {
		if got := c.event("chat.updated").message(t); len(got.Reactions) != 1 || got.Reactions[0].Reaction != "👍" {
			t.Fatalf("update %+v", got.Reactions)
		}
	}
	// The same reaction twice is one, and changes nothing.
	tr.bob.ok("chat.react", map[string]any{"id": msg.ID, "reaction": "👍"}, &r2)
	if r2.ReactionID != r1.ReactionID || len(r2.Message.Reactions) != 1 {
		t.Fatalf("second react %+v", r2)
	}
	tr.alice.quiet()
	tr.carol.ok("chat.react", map[string]any{"id": msg.ID, "reaction": "🎉"}, nil)
	tr.alice.event("chat.updated")
	tr.alice.fail("chat.unreact", map[string]any{"reaction_id": "nope"}, "not_found")
	tr.carol.fail("chat.unreact", map[string]any{"reaction_id": r1.ReactionID}, "forbidden")
	tr.carol.fail("chat.react", map[string]any{"id": msg.ID, "reaction": "this is far too long"}, "invalid_request")
	tr.carol.fail("chat.react", map[string]any{"id": msg.ID, "reaction": " "}, "invalid_request")

	// Private messages' reactions stay private.
	var priv chat.Message
	tr.alice.ok("chat.send", map[string]any{"type": "text", "message": "psst", "target_user_ids": []string{tr.pb.ID}}, &priv)
	tr.bob.ok("chat.react", map[string]any{"id": priv.ID, "reaction": "🤫"}, nil)
	tr.carol.fail("chat.react", map[string]any{"id": priv.ID, "reaction": "👀"}, "not_found")
	tr.alice.event("chat.message")
	if got := tr.alice.event("chat.updated").message(t); got.ID != priv.ID || len(got.Reactions) != 1 {
		t.Fatalf("alice sees %+v", got)
	}
	tr.carol.event("chat.updated") // her own 🎉
	tr.carol.quiet()               // nothing of the private message

	// Unreact, then restart: the remaining reactions are kept.
	var after chat.Message
	tr.bob.ok("chat.unreact", map[string]any{"reaction_id": r1.ReactionID}, &after)
	if len(after.Reactions) != 1 || after.Reactions[0].Reaction != "🎉" {
		t.Fatalf("after unreact %+v", after.Reactions)
	}
	s.restart()
	carol := s.join(tr.pc.Token)
	var h chat.HistoryResult
	carol.ok("chat.history", map[string]any{}, &h)
	if len(h.Messages) != 1 || len(h.Messages[0].Reactions) != 1 || h.Messages[0].Reactions[0].Reaction != "🎉" {
		t.Fatalf("after restart %+v", h.Messages)
	}
	bob := s.join(tr.pb.Token)
	bob.ok("chat.history", map[string]any{"with_user_id": tr.pa.ID}, &h)
	if len(h.Messages) != 1 || len(h.Messages[0].Reactions) != 1 {
		t.Fatalf("bob's private thread %+v", h.Messages)
	}
}

func TestReadReceipts(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	m1 := tr.alice.sendText("one")
	m2 := tr.alice.sendText("two")
	// The sender's own events say read; the others' don't, yet.
	if got := tr.alice.event("chat.message").message(t); !got.Read {
		t.Fatal("own message not read")
	}
	tr.alice.event("chat.message")
	if got := tr.bob.event("chat.message").message(t); got.Read {
		t.Fatal("bob's copy read before he read it")
	}
	tr.bob.event("chat.message")

	var res chat.ReadResult
	tr.bob.ok("chat.read", map[string]any{"id": m1.ID}, &res)
	if res.ID != m1.ID || res.Seq != m1.Seq {
		t.Fatalf("read reply %+v", res)
	}
	var ev chat.ReadResult
	json.Unmarshal(tr.alice.event("chat.read").Data, &ev)
	if ev.UserID != tr.pb.ID || ev.ID != m1.ID {
		t.Fatalf("chat.read event %+v", ev)
	}
	// Reading an earlier one again changes nothing and says nothing.
	tr.bob.ok("chat.read", map[string]any{"id": m1.ID}, nil)
	tr.alice.quiet()
	var h chat.HistoryResult
	tr.bob.ok("chat.history", map[string]any{}, &h)
	if !h.Messages[0].Read || h.Messages[1].Read {
		t.Fatalf("bob's read state %v %v", h.Messages[0].Read, h.Messages[1].Read)
	}
	// An edit of a message Bob has read reaches him marked read.
	tr.alice.ok("chat.edit", map[string]any{"id": m1.ID, "message": "one!"}, nil)
	if got := tr.bob.event("chat.updated").message(t); !got.Read {
		t.Fatal("edit of a read message arrives unread")
	}
	if got := tr.carol.event("chat.message").message(t); got.Read {
		t.Fatal("carol's copy read")
	}

	// No id: the latest. Marks survive a restart; auth says what's unread.
	tr.bob.ok("chat.read", nil, &res)
	if res.ID != m2.ID {
		t.Fatalf("latest read %+v", res)
	}
	s.restart()
	bob, carol := s.join(tr.pb.Token), s.join(tr.pc.Token)
	if bob.auth.Unread != 0 || carol.auth.Unread != 2 {
		t.Fatalf("unread bob %d carol %d", bob.auth.Unread, carol.auth.Unread)
	}
	if !bob.auth.Recent[1].Read || carol.auth.Recent[1].Read {
		t.Fatal("recent read state")
	}
	// A private message's read receipt reaches only those who see it.
	alice := s.join(tr.pa.Token)
	var priv chat.Message
	alice.ok("chat.send", map[string]any{"type": "text", "message": "psst", "target_user_ids": []string{tr.pb.ID}}, &priv)
	bob.event("chat.message")
	bob.ok("chat.read", map[string]any{"id": priv.ID}, nil)
	alice.event("chat.message")
	alice.event("chat.read")
	carol.quiet()
}

func TestTyping(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	type typing struct {
		UserID string `json:"user_id"`
		Typing bool
	}
	// readFrom returns the next typing event about one participant.
	readFrom := func(c *client, uid string) typing {
		for {
			var ty typing
			json.Unmarshal(c.event("typing").Data, &ty)
			if ty.UserID == uid {
				return ty
			}
		}
	}
	read := func(c *client) typing { return readFrom(c, tr.pa.ID) }
	tr.alice.ok("chat.typing", map[string]any{"typing": true}, nil)
	if ty := read(tr.bob); ty.UserID != tr.pa.ID || !ty.Typing {
		t.Fatalf("bob sees %+v", ty)
	}
	read(tr.carol)
	// Typing again only extends it.
	tr.alice.ok("chat.typing", map[string]any{"typing": true}, nil)
	s.clock.Advance(5 * time.Second)
	tr.bob.ok("ping", nil, nil)
	for _, e := range tr.bob.events {
		if e.Event == "typing" {
			t.Fatal("typing ended early")
		}
	}
	s.clock.Advance(2 * time.Second)
	if ty := read(tr.bob); ty.Typing {
		t.Fatal("typing did not expire")
	}
	// Explicit stop; the typer never hears about itself.
	tr.bob.ok("chat.typing", map[string]any{"typing": true}, nil)
	tr.bob.ok("chat.typing", map[string]any{"typing": false}, nil)
	if ty := readFrom(tr.alice, tr.pb.ID); !ty.Typing {
		t.Fatal("start")
	}
	if ty := readFrom(tr.alice, tr.pb.ID); ty.Typing {
		t.Fatal("stop")
	}
	for _, e := range tr.bob.events {
		if e.Event == "typing" && jsonHas(e.Data, tr.pb.ID) {
			t.Fatal("the typer heard about itself")
		}
	}
	// Typing is limited on its own, and doesn't spend messages.
	limited := false
	for i := 0; i < 70 && !limited; i++ {
		r := tr.carol.call("chat.typing", map[string]any{"typing": i%2 == 0})
		limited = !r.OK && r.Error.Code == "rate_limited"
	}
	if !limited {
		t.Fatal("typing flood not limited")
	}
	tr.carol.sendText("still allowed to talk")
	tr.bob.event("chat.message")
	// Typing that is never ended ends when the typer leaves.
	tr.alice.ok("chat.typing", map[string]any{"typing": true}, nil)
	read(tr.bob)
	tr.alice.ws.Close()
	if ty := read(tr.bob); ty.UserID != tr.pa.ID || ty.Typing {
		t.Fatalf("after leaving %+v", ty)
	}
}

func TestPages(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	var public []string
	for i := 0; i < 60; i++ {
		if i%10 == 5 {
			tr.alice.ok("chat.send", map[string]any{"type": "text", "message": fmt.Sprint("private ", i), "target_user_ids": []string{tr.pb.ID}}, nil)
			continue
		}
		public = append(public, tr.alice.sendText(fmt.Sprint(i)).ID)
	}
	var p chat.PageResult
	tr.carol.ok("chat.page", nil, &p)
	if p.Page != 1 || p.TotalMessages != 54 || p.TotalPages != 3 || len(p.Messages) != 25 || p.Messages[24].ID != public[53] || p.Messages[0].ID != public[29] {
		t.Fatalf("page 1: page %d total %d pages %d len %d", p.Page, p.TotalMessages, p.TotalPages, len(p.Messages))
	}
	tr.carol.ok("chat.page", map[string]any{"page": 3}, &p)
	if len(p.Messages) != 4 || p.Messages[0].ID != public[0] {
		t.Fatalf("page 3: %d", len(p.Messages))
	}
	tr.carol.ok("chat.page", map[string]any{"page": 4}, &p)
	if len(p.Messages) != 0 || p.TotalPages != 3 {
		t.Fatalf("page 4: %+v", p)
	}
	tr.carol.fail("chat.page", map[string]any{"page": 0}, "invalid_request")
	// Bob sees the private ones too.
	tr.bob.ok("chat.page", nil, &p)
	if p.TotalMessages != 60 {
		t.Fatalf("bob's total %d", p.TotalMessages)
	}
	// Over HTTP, the same.
	code, r := s.request("GET", "/api/chat/"+tr.m.ID+"/messages?page=2", nil, "Bearer "+tr.pc.Token)
	var hp chat.PageResult
	json.Unmarshal(r.Data, &hp)
	if code != 200 || hp.Page != 2 || len(hp.Messages) != 25 || hp.Messages[0].ID != public[4] || hp.TotalMessages != 54 {
		t.Fatalf("HTTP page 2: %d %+v", code, hp.Page)
	}
	other := s.meeting(nil)
	if code, _ := s.request("GET", "/api/chat/"+other.ID+"/messages", nil, "Bearer "+tr.pc.Token); code != 403 {
		t.Fatalf("another meeting's pages: %d", code)
	}
	if code, _ := s.request("GET", "/api/chat/"+tr.m.ID+"/messages?page=x", nil, "Bearer "+tr.pc.Token); code != 400 {
		t.Fatalf("bad page: %d", code)
	}
}

func TestSearch(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	fox := tr.alice.sendText("The quick brown fox")
	tr.alice.sendText("a lazy dog")
	var secret chat.Message
	tr.alice.ok("chat.send", map[string]any{"type": "text", "message": "secret fox plans", "target_user_ids": []string{tr.pb.ID}}, &secret)
	cafe := tr.bob.sendText("Meet at the café")
	doc := s.mustUpload(tr.pb.Token, "fox-report.pdf", []byte("%PDF"))
	var file chat.Message
	tr.bob.ok("chat.send", map[string]any{"type": "file", "upload_id": doc.ID}, &file)

	search := func(c *client, q string) []string {
		var r chat.SearchResult
		c.ok("chat.search", map[string]any{"query": q}, &r)
		var ids []string
		for _, m := range r.Messages {
			ids = append(ids, m.ID)
		}
		return ids
	}
	if got := search(tr.carol, "fox"); len(got) != 2 || !containsAll(got, fox.ID, file.ID) {
		t.Fatalf("carol finds %v (never the private one)", got)
	}
	if got := search(tr.bob, "fox"); len(got) != 3 {
		t.Fatalf("bob finds %v", got)
	}
	if got := search(tr.carol, "qui"); len(got) != 1 || got[0] != fox.ID {
		t.Fatalf("prefix %v", got)
	}
	if got := search(tr.carol, "CAFE"); len(got) != 1 || got[0] != cafe.ID {
		t.Fatalf("diacritics %v", got)
	}
	if got := search(tr.carol, `fox" OR "dog`); len(got) != 0 {
		t.Fatalf("query syntax is not FTS syntax: %v", got)
	}
	// Edits and deletes keep the index in step.
	tr.alice.ok("chat.edit", map[string]any{"id": fox.ID, "message": "the quick brown cat"}, nil)
	if got := search(tr.carol, "cat"); len(got) != 1 {
		t.Fatalf("after edit: cat %v", got)
	}
	if got := search(tr.carol, "fox"); len(got) != 1 || got[0] != file.ID {
		t.Fatalf("after edit: fox %v", got)
	}
	tr.bob.ok("chat.delete", map[string]any{"id": cafe.ID}, nil)
	if got := search(tr.carol, "cafe"); len(got) != 0 {
		t.Fatalf("after delete %v", got)
	}
	tr.carol.fail("chat.search", map[string]any{"query": "!!!"}, "invalid_request")
	tr.carol.fail("chat.search", map[string]any{"query": "x", "limit": 500}, "invalid_request")
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestHTTPActions(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	act := func(body map[string]any, want int) apiResp {
		t.Helper()
		body["chatId"] = tr.m.ID
		code, r := s.request("POST", "/api/chat", body, "Bearer "+tr.pb.Token)
		if code != want {
			t.Fatalf("%v: %d %+v", body["type"], code, r.Error)
		}
		return r
	}
	var sent chat.Message
	json.Unmarshal(act(map[string]any{"type": "SEND_MSG", "message": "from a script"}, 200).Data, &sent)
	if got := tr.alice.event("chat.message").message(t); got.ID != sent.ID || got.UserID != tr.pb.ID {
		t.Fatalf("alice got %+v", got)
	}
	act(map[string]any{"type": "EDIT_MSG", "messageId": sent.ID, "message": "edited by script"}, 200)
	if got := tr.alice.event("chat.updated").message(t); got.Message != "edited by script" {
		t.Fatal(got.Message)
	}
	var reply chat.Message
	json.Unmarshal(act(map[string]any{"type": "REPLY", "messageId": sent.ID, "message": "replying"}, 200).Data, &reply)
	if got := tr.alice.event("chat.message").message(t); got.ReplyTo == nil || *got.ReplyTo != sent.ID {
		t.Fatal("reply")
	}
	var react chat.ReactResult
	json.Unmarshal(act(map[string]any{"type": "REACT", "messageId": sent.ID, "reaction": "🚀"}, 200).Data, &react)
	if got := tr.alice.event("chat.updated").message(t); len(got.Reactions) != 1 || got.Reactions[0].ReactionID != react.ReactionID {
		t.Fatal("react")
	}
	act(map[string]any{"type": "DELETE_REACT", "reactionId": react.ReactionID}, 200)
	if got := tr.alice.event("chat.updated").message(t); len(got.Reactions) != 0 {
		t.Fatal("unreact")
	}
	act(map[string]any{"type": "TYPING"}, 200)
	tr.alice.event("typing")
	m := tr.alice.sendText("read me")
	act(map[string]any{"type": "READ_MSG", "messageId": m.ID}, 200)
	tr.alice.event("chat.message")
	if ev := tr.alice.event("chat.read"); !jsonHas(ev.Data, tr.pb.ID) {
		t.Fatal("read")
	}
	act(map[string]any{"type": "DELETE_MSG", "messageId": reply.ID}, 200)
	tr.alice.event("chat.deleted")

	for _, bad := range []map[string]any{
		{"type": "SEND_MSG"},
		{"type": "SEND_MSG", "message": "x", "reaction": "y"},
		{"type": "PING"},
		{"type": "SEND_MSG", "message": "x", "extra": 1},
	} {
		act(bad, 400)
	}
	code, _ := s.request("POST", "/api/chat", map[string]any{"type": "SEND_MSG", "chatId": s.meeting(nil).ID, "message": "x"}, "Bearer "+tr.pb.Token)
	if code != 403 {
		t.Fatalf("other chat: %d", code)
	}
	code, _ = s.request("POST", "/api/chat", map[string]any{"type": "SEND_MSG", "chatId": tr.m.ID, "message": "x"}, "Bearer nope")
	if code != 401 {
		t.Fatalf("bad token: %d", code)
	}
}

func jsonHas(raw json.RawMessage, s string) bool {
	var v map[string]any
	json.Unmarshal(raw, &v)
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

// TestHTTPSendStartsASession: a bot can post when nobody is connected; the
// message belongs to a session that ends a keep-alive later.
func TestHTTPSendStartsASession(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	bot := s.participant(m.ID, "Bot", "participant")
	code, r := s.request("POST", "/api/chat", map[string]any{"type": "SEND_MSG", "chatId": m.ID, "message": "nightly build green"}, "Bearer "+bot.Token)
	if code != 200 {
		t.Fatalf("%d %+v", code, r.Error)
	}
	var msg chat.Message
	json.Unmarshal(r.Data, &msg)
	var sess chat.Session
	s.mustAPI("GET", "/v2/sessions/"+msg.SessionID, nil, 200, &sess)
	if sess.Status != "LIVE" {
		t.Fatalf("session %+v", sess)
	}
	s.clock.Advance(61 * time.Second)
	s.mustAPI("GET", "/v2/sessions/"+msg.SessionID, nil, 200, &sess)
	if sess.Status != "ENDED" {
		t.Fatalf("session after keep-alive %+v", sess)
	}
	a := s.join(s.participant(m.ID, "Alice", "participant").Token)
	if len(a.auth.Recent) != 1 || a.auth.Recent[0].Message != "nightly build green" {
		t.Fatalf("recent %+v", a.auth.Recent)
	}
}

func TestMeetingUpdate(t *testing.T) {
	s := newTestServer(t)
	tr := newTrio(s)
	var m chat.Meeting
	tr.alice.ok("meeting.update", map[string]any{"title": "Sprint review", "metadata": map[string]any{"room": 4}}, &m)
	if m.Title != "Sprint review" || m.Metadata["room"] != float64(4) {
		t.Fatalf("updated %+v", m)
	}
	for _, c := range []*client{tr.alice, tr.bob, tr.carol} {
		var got chat.Meeting
		json.Unmarshal(c.event("meeting.updated").Data, &got)
		if got.Title != "Sprint review" {
			t.Fatalf("event %+v", got)
		}
	}
	tr.bob.fail("meeting.update", map[string]any{"title": "mine"}, "forbidden")
	tr.alice.fail("meeting.update", map[string]any{"title": ""}, "invalid_request")
}
