package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"parley/chat"
)

func (s *Server) handleCreateWebhook() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.WebhookInput
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		w, err := s.hub.CreateWebhook(r.Context(), in)
		return http.StatusCreated, w, err
	})
}

func (s *Server) handleListWebhooks() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		ws, err := s.hub.Webhooks(r.Context())
		return http.StatusOK, ws, err
	})
}

func (s *Server) handleGetWebhook() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		w, err := s.hub.Webhook(r.Context(), param(r, "webhook_id"))
		return http.StatusOK, w, err
	})
}

func (s *Server) handleUpdateWebhook() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.WebhookPatch
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		w, err := s.hub.UpdateWebhook(r.Context(), param(r, "webhook_id"), in)
		return http.StatusOK, w, err
	})
}

func (s *Server) handleDeleteWebhook() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		id := param(r, "webhook_id")
		return http.StatusOK, map[string]string{"id": id}, s.hub.DeleteWebhook(r.Context(), id)
	})
}

func (s *Server) handleDeliveries() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		ds, err := s.hub.Deliveries(r.Context(), param(r, "webhook_id"))
		return http.StatusOK, ds, err
	})
}

// ChatLink makes a fresh chat download link for a webhook, from the
// public URL (or the listen address) since no request is at hand.
func (s *Server) ChatLink(sessionID string) (string, chat.Time) {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	if base == "" {
		base = s.hub.BaseURL()
	}
	return s.ExportLink(base, sessionID)
}

// Poster sends webhook requests over HTTP. It follows no redirects: a
// webhook URL says where events go, and a 3xx is an answer, not a detour.
type Poster struct {
	Client *http.Client
}

// NewPoster returns a Poster with a timeout.
func NewPoster() *Poster {
	return &Poster{Client: &http.Client{
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var _ chat.Poster = (*Poster)(nil)

// Post sends one request and returns the response status.
func (p *Poster) Post(ctx context.Context, url string, header map[string]string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "parley-webhooks")
	res, err := p.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	res.Body.Close()
	return res.StatusCode, nil
}
