package web_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"parley/chat"
	"parley/web"
)

func TestAdminAPI(t *testing.T) {
	s := newTestServer(t)

	t.Run("auth", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:wrong"))} {
			code, r := s.request("GET", "/v2/meetings", nil, auth)
			if code != 401 || r.Success || r.Error.Code != "unauthorized" {
				t.Fatalf("auth %q: %d %+v", auth, code, r.Error)
			}
		}
		code, _ := s.request("GET", "/v2/meetings", nil, "Basic "+base64.StdEncoding.EncodeToString([]byte("x:"+adminKey)))
		if code != 200 {
			t.Fatalf("basic auth: %d", code)
		}
	})

	t.Run("strict JSON", func(t *testing.T) {
		for _, body := range []string{`{"title":"x","colour":"red"}`, `{"title":"x"} {}`, `{"title":`, `[]`, `{"title": 5}`, `{"title":""}`, `{"title":"x","status":"PAUSED"}`} {
			code, r := s.api("POST", "/v2/meetings", body)
			if code != 400 || r.Error.Code != "invalid_request" {
				t.Fatalf("%s: %d %+v", body, code, r.Error)
			}
		}
		var list []chat.Meeting
		s.mustAPI("GET", "/v2/meetings", nil, 200, &list)
		if len(list) != 0 {
			t.Fatalf("bad requests created %d meetings", len(list))
		}
	})

	t.Run("meetings", func(t *testing.T) {
		m := s.meeting(map[string]any{"title": "Retro", "persist_chat": false})
		if m.Status != "ACTIVE" || m.PersistChat || m.ID == "" {
			t.Fatalf("created %+v", m)
		}
		for i := 0; i < 4; i++ {
			s.meeting(nil)
		}
		code, r := s.api("GET", "/v2/meetings?page_no=2&per_page=2", nil)
		if code != 200 || r.Paging == nil || r.Paging.TotalCount != 5 || r.Paging.StartOffset != 2 || r.Paging.EndOffset != 4 {
			t.Fatalf("paging: %d %+v", code, r.Paging)
		}
		if code, _ := s.api("GET", "/v2/meetings?per_page=101", nil); code != 400 {
			t.Fatalf("per_page=101: %d", code)
		}
		var got chat.Meeting
		s.mustAPI("PATCH", "/v2/meetings/"+m.ID, map[string]any{"title": "Retro 2"}, 200, &got)
		if got.Title != "Retro 2" || got.PersistChat {
			t.Fatalf("patched %+v", got)
		}
		s.mustAPI("GET", "/v2/meetings/"+m.ID, nil, 200, &got)
		if got.Title != "Retro 2" {
			t.Fatalf("got %+v", got)
		}
		if code, r := s.api("GET", "/v2/meetings/nope", nil); code != 404 || r.Error.Code != "not_found" {
			t.Fatalf("missing meeting: %d", code)
		}
	})

	t.Run("participants", func(t *testing.T) {
		m := s.meeting(nil)
		p := s.participant(m.ID, "Ann", "participant")
		if p.Token == "" || p.TokenExpiresAt.IsZero() {
			t.Fatalf("created %+v", p)
		}
		code, r := s.api("POST", "/v2/meetings/"+m.ID+"/participants", map[string]any{"name": "Ann 2", "preset_name": "participant", "custom_participant_id": "ann"})
		if code != 409 || r.Error.Code != "conflict" {
			t.Fatalf("duplicate custom id: %d %+v", code, r.Error)
		}
		code, _ = s.api("POST", "/v2/meetings/"+m.ID+"/participants", map[string]any{"name": "X", "preset_name": "nope", "custom_participant_id": "x"})
		if code != 400 {
			t.Fatalf("unknown preset: %d", code)
		}
		var list []chat.Participant
		s.mustAPI("GET", "/v2/meetings/"+m.ID+"/participants", nil, 200, &list)
		if len(list) != 1 || list[0].Token != "" {
			t.Fatalf("list %+v (tokens must not be listed)", list)
		}
		var got chat.Participant
		s.mustAPI("PATCH", "/v2/meetings/"+m.ID+"/participants/"+p.ID, map[string]any{"name": "Annie"}, 200, &got)
		if got.Name != "Annie" || got.Token != "" {
			t.Fatalf("patched %+v", got)
		}
		other := s.meeting(nil)
		if code, _ := s.api("GET", "/v2/meetings/"+other.ID+"/participants/"+p.ID, nil); code != 404 {
			t.Fatalf("participant through another meeting: %d", code)
		}
		s.mustAPI("DELETE", "/v2/meetings/"+m.ID+"/participants/"+p.ID, nil, 200, nil)
		if code, _ := s.api("GET", "/v2/meetings/"+m.ID+"/participants/"+p.ID, nil); code != 404 {
			t.Fatalf("deleted participant: %d", code)
		}
	})

	t.Run("presets", func(t *testing.T) {
		var list []chat.Preset
		s.mustAPI("GET", "/v2/presets", nil, 200, &list)
		if len(list) != 3 || list[0].Name != "host" || !list[0].Chat.Moderate || list[2].Chat.Public.CanSend {
			t.Fatalf("built-ins %+v", list)
		}
		s.mustAPI("POST", "/v2/presets", map[string]any{"name": "speaker", "chat": map[string]any{"public": map[string]any{"can_send": true, "text": true}}}, 201, nil)
		if code, _ := s.api("POST", "/v2/presets", map[string]any{"name": "speaker"}); code != 409 {
			t.Fatalf("duplicate preset: %d", code)
		}
		if code, _ := s.api("POST", "/v2/presets", map[string]any{"name": "Bad Name!"}); code != 400 {
			t.Fatalf("bad name: %d", code)
		}
		var p chat.Preset
		s.mustAPI("PATCH", "/v2/presets/speaker", map[string]any{"chat": map[string]any{"moderate": true}}, 200, &p)
		if !p.Chat.Moderate || p.Chat.Public.CanSend {
			t.Fatalf("patched %+v", p)
		}
		if code, _ := s.api("PATCH", "/v2/presets/host", map[string]any{"chat": map[string]any{}}); code != 403 {
			t.Fatalf("patch built-in: %d", code)
		}
		if code, _ := s.api("DELETE", "/v2/presets/viewer", nil); code != 403 {
			t.Fatalf("delete built-in: %d", code)
		}
		m := s.meeting(nil)
		s.participant(m.ID, "Sam", "speaker")
		if code, _ := s.api("DELETE", "/v2/presets/speaker", nil); code != 409 {
			t.Fatalf("delete preset in use: %d", code)
		}
		s.mustAPI("POST", "/v2/presets", map[string]any{"name": "unused"}, 201, nil)
		s.mustAPI("DELETE", "/v2/presets/unused", nil, 200, nil)
		if code, _ := s.api("GET", "/v2/presets/unused", nil); code != 404 {
			t.Fatalf("deleted preset: %d", code)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		if code, _ := s.api("GET", "/v2/sessions?status=PAUSED", nil); code != 400 {
			t.Fatalf("bad status filter: %d", code)
		}
		if code, _ := s.api("GET", "/v2/sessions/nope", nil); code != 404 {
			t.Fatalf("missing session: %d", code)
		}
	})

	t.Run("unknown path and method", func(t *testing.T) {
		if code, r := s.api("GET", "/v2/nothing", nil); code != 404 || r.Error.Code != "not_found" {
			t.Fatalf("unknown path: %d", code)
		}
		if code, _ := s.api("PUT", "/v2/meetings", nil); code != http.StatusMethodNotAllowed {
			t.Fatalf("wrong method: %d", code)
		}
	})

	t.Run("oversize body", func(t *testing.T) {
		big := `{"title":"` + string(bytesOf('a', 2<<20)) + `"}`
		if code, r := s.api("POST", "/v2/meetings", big); code != 413 || r.Error.Code != "payload_too_large" {
			t.Fatalf("oversize: %d", code)
		}
	})
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestPerAddressLimit(t *testing.T) {
	s := newTestServer(t, withWeb(func(c *web.Config) { c.IPRate, c.IPBurst = 1, 3 }))
	codes := map[int]int{}
	for i := 0; i < 5; i++ {
		code, _ := s.api("GET", "/v2/presets", nil)
		codes[code]++
	}
	if codes[200] != 3 || codes[429] != 2 {
		t.Fatalf("codes %v, want 3×200 then 2×429", codes)
	}
	// Fetching uploaded files doesn't count: a chat of images stays readable.
	res, _ := get(t, s.URL+"/files/00000000-0000-4000-8000-000000000000/x.png")
	if res.StatusCode != 404 {
		t.Fatalf("file fetch limited: %d", res.StatusCode)
	}
}
