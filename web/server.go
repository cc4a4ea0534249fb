// Package web is parley's transport: the HTTP routes, the REST admin API,
// the realtime WebSocket protocol on melody, and the embedded static files.
// It turns requests into chat calls and chat errors into answers.
package web

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/olahol/melody"

	"parley/chat"
)

// Config is the transport's settings.
type Config struct {
	AdminKey string
	// AllowedOrigins are the browser origins, besides the server's own,
	// that may open the realtime socket (e.g. "https://app.example.com").
	AllowedOrigins []string
	MaxFrameBytes  int64
	// QueueSize is how many frames may wait for one slow client before it
	// is closed with 4008.
	QueueSize   int
	AuthTimeout time.Duration
	// IPRate and IPBurst limit requests per client address; 0 turns it off.
	IPRate     float64
	IPBurst    int
	TrustProxy bool
	// PublicURL, when set, is the base of links the server hands out.
	PublicURL string
	// ExportKey signs chat download links; ExportTTL is how long they work.
	ExportKey []byte
	ExportTTL time.Duration
}

// DefaultConfig returns the settings parley runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{MaxFrameBytes: 64 << 10, QueueSize: 128, AuthTimeout: 10 * time.Second, IPRate: 20, IPBurst: 200, ExportTTL: time.Hour}
}

// Server is parley's HTTP handler.
type Server struct {
	cfg    Config
	log    *slog.Logger
	hub    *chat.Hub
	blobs  chat.Blobs
	mel    *melody.Melody
	router *httprouter.Router
	ips    *ipLimiter

	sockets sync.WaitGroup
}

// NewServer builds the handler. blobs holds uploaded files (the hub's
// own); assets holds the web client and SDK.
func NewServer(cfg Config, log *slog.Logger, hub *chat.Hub, blobs chat.Blobs, assets fs.FS) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, hub: hub, blobs: blobs, router: httprouter.New(), ips: newIPLimiter(cfg.IPRate, cfg.IPBurst, cfg.TrustProxy)}
	s.mel = s.newMelody()
	addRoutes(s.router, s, assets)
	s.router.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, s.log, &chat.Error{Kind: chat.ErrNotFound, Code: "not_found", Msg: "no such path"})
	})
	s.router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, envelope{Error: &errorBody{Code: "method_not_allowed", Message: "method not allowed"}})
	})
	s.router.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.log.Error("panic in handler", "path", r.URL.Path, "panic", v)
		writeError(w, s.log, errInternal)
	}
	return s
}

// errInternal answers a handler panic: a 500 that reveals nothing.
var errInternal = errors.New("handler panicked")

// ServeHTTP logs the request and applies the per-address limit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if limited(r) && !s.ips.allow(r) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, envelope{Error: &errorBody{Code: "rate_limited", Message: "too many requests from this address", RetryAfterMS: 1000}})
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.router.ServeHTTP(rec, r)
	// The path only: query strings may carry signatures, never log them.
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "dur", time.Since(start))
}

// limited reports whether a request counts against its address's limit:
// everything but fetching the client's own assets and uploaded files, whose
// links are unguessable. A chat full of images must not lock its reader out.
func limited(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	p := r.URL.Path
	return !strings.HasPrefix(p, "/files/") && !strings.HasPrefix(p, "/static/") && p != "/sdk/parley.js"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController and the WebSocket upgrade reach the
// underlying writer (for Hijack).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack passes a WebSocket upgrade through to the connection.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("web: connection can't be hijacked")
	}
	r.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Shutdown closes every realtime connection with 1001 and waits, until ctx
// ends, for their handlers to finish (presence and left-at times written).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mel.CloseWithMsg(melody.FormatCloseMessage(chat.CloseGoingAway, "server shutting down"))
	done := make(chan struct{})
	go func() { s.sockets.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requireAdmin accepts the admin key as a bearer token or as the password
// of Basic auth, compared in constant time.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.isAdmin(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			writeError(w, s.log, &chat.Error{Kind: chat.ErrUnauthorized, Code: "unauthorized", Msg: "admin key required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) isAdmin(r *http.Request) bool {
	key := bearer(r)
	if key == "" {
		if _, pw, ok := r.BasicAuth(); ok {
			key = pw
		}
	}
	return key != "" && s.cfg.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) == 1
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// checkOrigin allows clients that send no Origin (not browsers), the
// server's own origin, and configured ones. melody's default allows all,
// which would let any web page drive a visitor's socket.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}
