package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/chat"
)

type chatLink struct {
	URL    string    `json:"chat_download_url"`
	Expiry time.Time `json:"chat_download_url_expiry"`
}

func (s *testServer) chatLink(sessionID string) chatLink {
	s.t.Helper()
	var l chatLink
	s.mustAPI("GET", "/v2/sessions/"+sessionID+"/chat", nil, 200, &l)
	return l
}

func readCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	return rows
}

func TestExportCSV(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa, pb := s.participant(m.ID, "Alice", "host"), s.participant(m.ID, "Bob", "participant")
	alice, bob := s.join(pa.Token), s.join(pb.Token)
	sessionID := alice.auth.Session.ID

	var want []chat.Message
	send := func(c *client, data map[string]any) chat.Message {
		var msg chat.Message
		c.ok("chat.send", data, &msg)
		return msg
	}
	tricky := "Hi, \"Bob\"\nline two, =cmd|' /C calc'!A0"
	want = append(want, send(alice, map[string]any{"type": "text", "message": tricky}))
	img := s.mustUpload(pa.Token, "cat.png", pngOf(800, 600))
	want = append(want, send(alice, map[string]any{"type": "image", "upload_id": img.ID}))
	doc := s.mustUpload(pb.Token, "notes, final.txt", []byte("notes"))
	want = append(want, send(bob, map[string]any{"type": "file", "upload_id": doc.ID}))
	edited := send(bob, map[string]any{"type": "text", "message": "tpyo"})
	bob.ok("chat.edit", map[string]any{"id": edited.ID, "message": "typo"}, &edited)
	want = append(want, edited)
	pinned := send(alice, map[string]any{"type": "text", "message": "=1+1 pinned"})
	alice.ok("chat.pin", map[string]any{"id": pinned.ID}, &pinned)
	want = append(want, pinned)
	want = append(want, send(bob, map[string]any{"type": "text", "message": "-private @alice", "target_user_ids": []string{pa.ID}}))
	gone := send(alice, map[string]any{"type": "text", "message": "deleted soon"})
	alice.ok("chat.delete", map[string]any{"id": gone.ID}, nil)

	link := s.chatLink(sessionID)
	if !strings.HasPrefix(link.URL, s.URL+"/export/") || link.Expiry.Sub(s.clock.Now()) != time.Hour {
		t.Fatalf("link %+v", link)
	}
	res, body := get(t, link.URL)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !bytes.HasPrefix(body, []byte("id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\r\n")) {
		t.Fatalf("header: %q", body[:min(len(body), 120)])
	}
	rows := readCSV(t, body)
	if len(rows) != 1+len(want) {
		t.Fatalf("%d rows, want %d (deleted absent)", len(rows), 1+len(want))
	}
	for i, w := range want {
		payloadType, payload := "TEXT_MESSAGE", w.Message
		switch w.Type {
		case "image":
			payloadType, payload = "IMAGE_MESSAGE", img.Link
		case "file":
			b, _ := json.Marshal(struct { // the order SPEC §7 gives
				Name string `json:"name"`
				Size int    `json:"size"`
				Link string `json:"link"`
			}{"notes, final.txt", 5, doc.Link})
			payloadType, payload = "FILE_MESSAGE", string(b)
		}
		wantRow := []string{w.ID, w.UserID, sessionID, m.ID, w.DisplayName, strconv.FormatBool(w.Pinned), strconv.FormatBool(w.IsEdited), payloadType, payload, w.Time.String()}
		for j := range wantRow {
			if rows[i+1][j] != wantRow[j] {
				t.Errorf("row %d %s = %q, want %q", i+1, chat.CSVHeader[j], rows[i+1][j], wantRow[j])
			}
		}
	}
	if rows[1][8] != tricky {
		t.Fatalf("tricky text did not round-trip: %q", rows[1][8])
	}

	// Spreadsheet-safe: formula cells get a quote, nothing else changes.
	_, body = get(t, link.URL+"&spreadsheet_safe=1")
	safe := readCSV(t, body)
	if safe[1][8] != tricky || safe[5][8] != "'=1+1 pinned" || safe[6][8] != "'-private @alice" {
		t.Fatalf("spreadsheet safe: %q %q %q", safe[1][8], safe[5][8], safe[6][8])
	}

	// The offline export writes the same bytes.
	var offline bytes.Buffer
	if err := chat.WriteCSV(context.Background(), s.store, sessionID, &offline, false); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, link.URL)
	if !bytes.Equal(offline.Bytes(), body) {
		t.Fatal("offline export differs from the link's")
	}
}

func TestExportLinkIsSigned(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	a := s.join(s.participant(m.ID, "Alice", "participant").Token)
	a.sendText("secret plans")
	other := s.meeting(nil)
	o := s.join(s.participant(other.ID, "Olga", "participant").Token)
	link := s.chatLink(a.auth.Session.ID)
	u, _ := url.Parse(link.URL)
	q := u.Query()

	tamper := func(f func(u *url.URL, q url.Values)) string {
		u2 := *u
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = append([]string(nil), v...)
		}
		f(&u2, q2)
		u2.RawQuery = q2.Encode()
		return u2.String()
	}
	sig := q.Get("sig")
	flipped := "A" + sig[1:]
	if sig[0] == 'A' {
		flipped = "B" + sig[1:]
	}
	bad := map[string]string{
		"changed signature": tamper(func(_ *url.URL, q url.Values) { q.Set("sig", flipped) }),
		"no signature":      tamper(func(_ *url.URL, q url.Values) { q.Del("sig") }),
		"later expiry":      tamper(func(_ *url.URL, q url.Values) { q.Set("expires", strconv.FormatInt(link.Expiry.Unix()+3600, 10)) }),
		"other session":     tamper(func(u *url.URL, _ url.Values) { u.Path = "/export/" + o.auth.Session.ID + "/chat.csv" }),
		"garbage expiry":    tamper(func(_ *url.URL, q url.Values) { q.Set("expires", "soon") }),
	}
	for name, l := range bad {
		res, body := get(t, l)
		if res.StatusCode != 403 || strings.Contains(string(body), "secret") || strings.Contains(string(body), a.auth.Session.ID) {
			t.Errorf("%s: %d %s", name, res.StatusCode, body)
		}
	}
	if res, _ := get(t, link.URL); res.StatusCode != 200 {
		t.Fatalf("valid link: %d", res.StatusCode)
	}
	// Expired.
	s.clock.Advance(time.Hour + time.Second)
	if res, _ := get(t, link.URL); res.StatusCode != 403 {
		t.Fatalf("expired link: %d", res.StatusCode)
	}
	// Signed with another key.
	fresh := s.chatLink(a.auth.Session.ID)
	s.webCfg.ExportKey = []byte("another key")
	s.restart()
	if res, _ := get(t, strings.Replace(fresh.URL, fresh.URL[:strings.Index(fresh.URL, "/export")], s.URL, 1)); res.StatusCode != 403 {
		t.Fatalf("other key's link: %d", res.StatusCode)
	}
	if code, _ := s.api("GET", "/v2/sessions/nope/chat", nil); code != 404 {
		t.Fatalf("link for a missing session: %d", code)
	}
}
