package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"parley/chat"
)

// exportPath is where a session's CSV is served; the link adds an expiry
// and a signature, and needs no other credential.
func exportPath(sessionID string) string { return "/export/" + sessionID + "/chat.csv" }

// exportSignature is HMAC-SHA256 over the path and the expiry.
func (s *Server) exportSignature(path string, expires int64) []byte {
	mac := hmac.New(sha256.New, s.cfg.ExportKey)
	mac.Write([]byte("GET " + path + "\n" + strconv.FormatInt(expires, 10)))
	return mac.Sum(nil)
}

// ExportLink returns a signed, expiring, absolute link to a session's CSV.
func (s *Server) ExportLink(base, sessionID string) (link string, expiry chat.Time) {
	expiry = chat.At(s.hub.Now().Add(s.cfg.ExportTTL))
	exp := expiry.Unix()
	path := exportPath(sessionID)
	sig := base64.RawURLEncoding.EncodeToString(s.exportSignature(path, exp))
	return base + path + "?expires=" + strconv.FormatInt(exp, 10) + "&sig=" + sig, expiry
}

// baseURL is --public-url when set, else the URL the request came to.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || (s.cfg.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleSessionChat answers GET /v2/sessions/:session_id/chat with a link.
func (s *Server) handleSessionChat() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		id := param(r, "session_id")
		if _, err := s.hub.Session(r.Context(), id); err != nil {
			return 0, nil, err
		}
		link, exp := s.ExportLink(s.baseURL(r), id)
		return http.StatusOK, map[string]any{"chat_download_url": link, "chat_download_url_expiry": exp}, nil
	})
}

var errBadLink = &chat.Error{Kind: chat.ErrForbidden, Code: "forbidden", Msg: "this download link is invalid or has expired"}

// handleExport streams a session's CSV to a holder of a valid link. A
// changed, expired or foreign link gets the same 403, and nothing about
// the session.
func (s *Server) handleExport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
		sig, serr := base64.RawURLEncoding.DecodeString(q.Get("sig"))
		want := s.exportSignature(exportPath(param(r, "session_id")), exp)
		if err != nil || serr != nil || !hmac.Equal(sig, want) || !s.hub.Now().Before(time.Unix(exp, 0)) {
			writeError(w, s.log, errBadLink)
			return
		}
		safe := q.Get("spreadsheet_safe") == "1"
		id := param(r, "session_id")
		if _, err := s.hub.Session(r.Context(), id); err != nil {
			writeError(w, s.log, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="chat-`+id+`.csv"`)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if err := s.hub.ExportCSV(r.Context(), id, w, safe); err != nil {
			// The status is sent; all we can do is cut the body short.
			s.log.Warn("export interrupted", "session", id, "err", err)
		}
	})
}
