// Command parley is a self-hosted chat server for meetings: one binary with
// SQLite inside, a WebSocket chat, and a REST admin API.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles on --debug-listen only
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"parley/bench"
	"parley/chat"
	"parley/static"
	"parley/storage"
	"parley/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment passed in so tests can
// run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "backup":
		return backup(ctx, args, getenv, stdout, stderr)
	case "export":
		return export(ctx, args, getenv, stdout, stderr)
	case "bench":
		return runBench(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "parley", version)
		return nil
	case "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage: parley [serve] [flags]   run the server (parley serve -h lists flags)
       parley export SESSION_ID [-o FILE]  write a session's chat as CSV
       parley backup FILE          write a consistent copy of the database
       parley bench [flags]        load-test a running server (parley bench -h)
       parley version              print the version`

// env reads flag defaults from the environment; a flag given on the
// command line still wins, since flag parsing overwrites the default.
type env func(string) string

func (e env) str(name, def string) string {
	if v := e(name); v != "" {
		return v
	}
	return def
}

func (e env) int(name string, def int) int {
	if n, err := strconv.Atoi(e(name)); err == nil {
		return n
	}
	return def
}

func (e env) float(name string, def float64) float64 {
	if n, err := strconv.ParseFloat(e(name), 64); err == nil {
		return n
	}
	return def
}

func (e env) dur(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(e(name)); err == nil {
		return d
	}
	return def
}

func (e env) bool(name string, def bool) bool {
	if b, err := strconv.ParseBool(e(name)); err == nil {
		return b
	}
	return def
}

// serveConfig is everything serve reads from flags and environment.
type serveConfig struct {
	listen, data, publicURL, apiKeyFile, synchronous, origins string
	debugListen                                               string
	logLevel, logFormat                                       string
	demo, trustProxy                                          bool
	hub                                                       chat.Config
	web                                                       web.Config
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	e := env(getenv)
	c := serveConfig{hub: chat.DefaultConfig(), web: web.DefaultConfig()}
	fs := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", e.str("PARLEY_LISTEN", "127.0.0.1:8080"), "address to listen on (PARLEY_LISTEN)")
	fs.StringVar(&c.data, "data", e.str("PARLEY_DATA", "./parley-data"), "data directory: database, files, admin key (PARLEY_DATA)")
	fs.StringVar(&c.publicURL, "public-url", e.str("PARLEY_PUBLIC_URL", ""), "URL users reach the server at, for links (PARLEY_PUBLIC_URL)")
	fs.StringVar(&c.apiKeyFile, "api-key-file", e.str("PARLEY_API_KEY_FILE", ""), "file holding the admin key (PARLEY_API_KEY_FILE; or set PARLEY_API_KEY)")
	fs.StringVar(&c.synchronous, "synchronous", e.str("PARLEY_SYNCHRONOUS", "FULL"), "SQLite synchronous: FULL survives power loss, NORMAL only crashes (PARLEY_SYNCHRONOUS)")
	fs.StringVar(&c.origins, "allowed-origins", e.str("PARLEY_ALLOWED_ORIGINS", ""), "comma-separated extra origins allowed to open the socket (PARLEY_ALLOWED_ORIGINS)")
	fs.StringVar(&c.debugListen, "debug-listen", e.str("PARLEY_DEBUG_LISTEN", ""), "address for Go's /debug/pprof profiles, e.g. 127.0.0.1:6060; off when empty (PARLEY_DEBUG_LISTEN)")
	fs.StringVar(&c.logLevel, "log-level", e.str("PARLEY_LOG_LEVEL", "info"), "debug, info, warn or error (PARLEY_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", e.str("PARLEY_LOG_FORMAT", "text"), "text or json (PARLEY_LOG_FORMAT)")
	fs.DurationVar(&c.web.ExportTTL, "export-link-ttl", e.dur("PARLEY_EXPORT_LINK_TTL", c.web.ExportTTL), "how long chat download links work (PARLEY_EXPORT_LINK_TTL)")
	fs.BoolVar(&c.demo, "demo", e.bool("PARLEY_DEMO", false), "create a demo meeting with two participants and print their join links (PARLEY_DEMO)")
	fs.BoolVar(&c.web.TrustProxy, "trust-proxy", e.bool("PARLEY_TRUST_PROXY", false), "take client addresses from X-Forwarded-For (PARLEY_TRUST_PROXY)")
	fs.IntVar(&c.hub.MessagesPerMinute, "messages-per-minute", e.int("PARLEY_MESSAGES_PER_MINUTE", c.hub.MessagesPerMinute), "messages a participant may send a minute (PARLEY_MESSAGES_PER_MINUTE)")
	fs.Int64Var(&c.hub.MaxUploadBytes, "max-upload-bytes", int64(e.int("PARLEY_MAX_UPLOAD_BYTES", int(c.hub.MaxUploadBytes))), "largest upload (PARLEY_MAX_UPLOAD_BYTES)")
	fs.IntVar(&c.hub.FilesPerMinute, "files-per-minute", e.int("PARLEY_FILES_PER_MINUTE", c.hub.FilesPerMinute), "files a participant may upload a minute (PARLEY_FILES_PER_MINUTE)")
	fs.IntVar(&c.hub.MaxTextLength, "max-text-length", e.int("PARLEY_MAX_TEXT_LENGTH", c.hub.MaxTextLength), "longest text message in characters (PARLEY_MAX_TEXT_LENGTH)")
	fs.DurationVar(&c.hub.SessionKeepAlive, "session-keep-alive", e.dur("PARLEY_SESSION_KEEP_ALIVE", c.hub.SessionKeepAlive), "how long a session outlives its last participant (PARLEY_SESSION_KEEP_ALIVE)")
	fs.DurationVar(&c.hub.TokenTTL, "token-ttl", e.dur("PARLEY_TOKEN_TTL", c.hub.TokenTTL), "lifetime of participant tokens (PARLEY_TOKEN_TTL)")
	fs.Int64Var(&c.web.MaxFrameBytes, "max-frame-bytes", int64(e.int("PARLEY_MAX_FRAME_BYTES", int(c.web.MaxFrameBytes))), "largest realtime frame (PARLEY_MAX_FRAME_BYTES)")
	fs.Float64Var(&c.web.IPRate, "ip-rate", e.float("PARLEY_IP_RATE", c.web.IPRate), "requests per second per client address, 0 for no limit (PARLEY_IP_RATE)")
	fs.IntVar(&c.web.IPBurst, "ip-burst", e.int("PARLEY_IP_BURST", c.web.IPBurst), "burst of requests per client address (PARLEY_IP_BURST)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.hub.MessagesPerMinute < 1 || c.hub.FilesPerMinute < 1 || c.hub.MaxTextLength < 1 || c.hub.MaxUploadBytes < 1 || c.web.MaxFrameBytes < 1024 {
		return c, errors.New("messages-per-minute, files-per-minute, max-text-length and max-upload-bytes must be positive, max-frame-bytes at least 1024")
	}
	for _, o := range strings.Split(c.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.web.AllowedOrigins = append(c.web.AllowedOrigins, o)
		}
	}
	return c, nil
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format must be text or json, not %q", format)
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(c.logLevel, c.logFormat, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	key, fresh, err := adminKey(c.data, c.apiKeyFile, getenv)
	if err != nil {
		return err
	}
	c.web.AdminKey = key
	exportKey, _, err := secretFile(filepath.Join(c.data, "export.key"), "")
	if err != nil {
		return err
	}
	c.web.ExportKey = []byte(exportKey)
	c.web.PublicURL = c.publicURL

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := strings.TrimRight(c.publicURL, "/")
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	c.hub.BaseURL = base

	store, err := storage.Open(ctx, filepath.Join(c.data, "parley.db"), storage.Options{Synchronous: c.synchronous, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	files, err := storage.OpenFiles(filepath.Join(c.data, "files"))
	if err != nil {
		return err
	}
	defer files.Close()
	hub, err := chat.NewHub(ctx, chat.Options{Store: store, Blobs: files, Logger: log, Config: c.hub, NewLimiter: web.NewTokenBucket})
	if err != nil {
		return err
	}
	defer hub.Close()
	if fresh {
		fmt.Fprintf(stdout, "admin key (shown once, saved in %s): %s\n", filepath.Join(c.data, "admin.key"), key)
	}
	if c.demo {
		if err := demo(ctx, hub, base, key, stdout); err != nil {
			return err
		}
	}

	if c.debugListen != "" {
		// Profiles go on their own listener so they are never exposed
		// with the chat; http.DefaultServeMux has them through net/http/pprof.
		dbg := &http.Server{Addr: c.debugListen, Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("debug listener", "err", err)
			}
		}()
		defer dbg.Close()
	}
	ws := web.NewServer(c.web, log, hub, files, static.FS)
	// The webhook sender stops before the store closes (defers run last-in
	// first-out); what it hadn't sent stays queued for the next start.
	dctx, stopDeliveries := context.WithCancel(context.Background())
	delivered := make(chan struct{})
	go func() { hub.RunDeliveries(dctx, web.NewPoster(), ws.ChatLink); close(delivered) }()
	defer func() { stopDeliveries(); <-delivered }()
	srv := &http.Server{Handler: ws, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "parley %s listening on %s\n", version, base)
	log.Info("listening", "addr", ln.Addr().String(), "data", c.data)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The listener closes first so no new socket arrives while the open
	// ones are closed with 1001; the store is flushed by the deferred Close.
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	wsErr := ws.Shutdown(sctx)
	return errors.Join(<-shut, wsErr)
}

// adminKey returns the admin key from PARLEY_API_KEY, the key file, or the
// data directory, generating one on first start. fresh is true when it was
// just generated, so the caller prints it once.
func adminKey(data, file string, getenv func(string) string) (key string, fresh bool, err error) {
	if k := strings.TrimSpace(getenv("PARLEY_API_KEY")); k != "" {
		return k, false, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("admin key: %w", err)
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, false, nil
		}
		return "", false, fmt.Errorf("admin key file %s is empty", file)
	}
	return secretFile(filepath.Join(data, "admin.key"), "pk_")
}

// secretFile reads a secret kept in a file, or makes a random one (256
// bits) and writes it there with mode 0600.
func secretFile(path, prefix string) (secret string, fresh bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, false, nil
		}
		return "", false, fmt.Errorf("%s is empty", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret = prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	return secret, true, nil
}

// demo creates a meeting with a host and a participant and prints their
// join links, so a newcomer can chat in two browser tabs.
func demo(ctx context.Context, hub *chat.Hub, base, key string, w io.Writer) error {
	m, err := hub.CreateMeeting(ctx, chat.MeetingInput{Title: "parley demo"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "demo meeting %q (%s)\n", m.Title, m.ID)
	for _, p := range []chat.ParticipantInput{
		{Name: "Alice", PresetName: "host", CustomParticipantID: "alice"},
		{Name: "Bob", PresetName: "participant", CustomParticipantID: "bob"},
	} {
		pp, err := hub.AddParticipant(ctx, m.ID, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  join as %-5s %s/#token=%s\n", pp.Name+":", base, pp.Token)
	}
	fmt.Fprintf(w, "admin key: %s\n", key)
	return nil
}

// backup writes a consistent copy of the database while the server runs.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", env(getenv).str("PARLEY_DATA", "./parley-data"), "data directory (PARLEY_DATA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: parley backup [-data DIR] FILE")
	}
	out := fs.Arg(0)
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists; choose a new file", out)
	}
	store, err := storage.Open(ctx, filepath.Join(*data, "parley.db"), storage.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Backup(ctx, out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", out)
	return nil
}

// export writes a session's chat CSV offline: the same bytes as its link.
func export(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", env(getenv).str("PARLEY_DATA", "./parley-data"), "data directory (PARLEY_DATA)")
	out := fs.String("o", "", "write to this file instead of standard output")
	safe := fs.Bool("spreadsheet-safe", false, "prefix cells a spreadsheet would run as formulas with '")
	// The session id may come before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if id == "" || fs.NArg() != 0 {
		return errors.New("usage: parley export SESSION_ID [-o FILE] [-data DIR] [-spreadsheet-safe]")
	}
	store, err := storage.Open(ctx, filepath.Join(*data, "parley.db"), storage.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	w := stdout
	var f *os.File
	if *out != "" {
		// Written beside the target and renamed, so a failed export leaves no half file.
		if f, err = os.CreateTemp(filepath.Dir(*out), ".export-*"); err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		w = f
	}
	if err := chat.WriteCSV(ctx, store, id, w, *safe); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return fmt.Errorf("no session %s", id)
		}
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), *out)
	}
	return nil
}

// runBench load-tests a running server; see package bench.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env(getenv)
	var c bench.Config
	fs := flag.NewFlagSet("parley bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the server to load (loopback only, please)")
	fs.StringVar(&c.APIKey, "api-key", e.str("PARLEY_API_KEY", ""), "its admin key (PARLEY_API_KEY)")
	fs.IntVar(&c.Rooms, "rooms", 100, "meetings")
	fs.IntVar(&c.RoomSize, "room-size", 10, "connected participants per meeting")
	fs.Float64Var(&c.Rate, "rate", 1000, "messages per second in all")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "measured time")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "time before measuring")
	fs.IntVar(&c.Payload, "payload", 200, "bytes of text per message")
	fs.BoolVar(&c.Idle, "idle", false, "only connect and hold; report memory")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "the server's pid, to report its RSS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.APIKey == "" {
		return errors.New("bench needs the admin key: --api-key or PARLEY_API_KEY")
	}
	res, err := bench.Run(ctx, c, stderr)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res)
	return nil
}
