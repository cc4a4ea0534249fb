package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/static"
)

// startRun runs the server in-process as main would, and returns its
// output lines as they come.
func startRun(t *testing.T, args []string, env map[string]string) (lines <-chan string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	out := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out <- sc.Text()
		}
		close(out)
	}()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, pw, io.Discard)
		pw.Close()
	}()
	return out, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("run did not return after cancel")
			return nil
		}
	}
}

// readUntil collects output lines until one matches re.
func readUntil(t *testing.T, lines <-chan string, re *regexp.Regexp) (all []string, match []string) {
	t.Helper()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended; got %q", all)
			}
			all = append(all, l)
			if m := re.FindStringSubmatch(l); m != nil {
				return all, m
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("timed out; got %q", all)
		}
	}
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

func TestServeDemoChatAndShutdown(t *testing.T) {
	dir := t.TempDir()
	lines, stop := startRun(t, []string{"--demo", "--listen", "127.0.0.1:0"}, map[string]string{"PARLEY_DATA": dir})
	out, m := readUntil(t, lines, listening)
	base := m[1]
	text := strings.Join(out, "\n")

	// The admin key is generated, saved 0600, and printed.
	key := regexp.MustCompile(`admin key: (\S+)`).FindStringSubmatch(text)
	if key == nil {
		t.Fatalf("no admin key in %q", text)
	}
	fi, err := os.Stat(filepath.Join(dir, "admin.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v %v", fi, err)
	}
	tokens := regexp.MustCompile(`#token=(\S+)`).FindAllStringSubmatch(text, -1)
	if len(tokens) != 2 {
		t.Fatalf("want two join links in %q", text)
	}

	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	req, _ := http.NewRequest("GET", base+"/v2/meetings", nil)
	req.Header.Set("Authorization", "Bearer "+key[1])
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin API with the printed key: %v %v", res.StatusCode, err)
	}

	// Both demo participants can chat.
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/v2/realtime"
	var conns []*websocket.Conn
	var sessionID string
	for i, tok := range tokens {
		c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.WriteJSON(map[string]any{"op": "auth", "ref": "a", "data": map[string]any{"token": tok[1]}})
		var f struct {
			OK   bool
			Data struct{ Session struct{ ID string } }
		}
		c.ReadJSON(&f)
		if !f.OK {
			t.Fatalf("demo participant %d can't join", i)
		}
		sessionID = f.Data.Session.ID
	}
	conns[0].WriteJSON(map[string]any{"op": "chat.send", "ref": "s", "data": map[string]any{"type": "text", "message": "hello from the demo"}})
	for {
		var f struct {
			Event string
			Data  struct{ Message string }
		}
		if err := conns[1].ReadJSON(&f); err != nil {
			t.Fatal(err)
		}
		if f.Event == "chat.message" {
			if f.Data.Message != "hello from the demo" {
				t.Fatalf("got %q", f.Data.Message)
			}
			break
		}
	}

	// Shutdown closes sockets with 1001 and returns cleanly.
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	for {
		if _, _, err := conns[1].ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("closed with %v, want 1001", err)
			}
			break
		}
	}

	// The offline export has the message.
	csvPath := filepath.Join(t.TempDir(), "chat.csv")
	if err := run(context.Background(), []string{"export", sessionID, "-o", csvPath, "--data", dir}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(csvPath); !strings.Contains(string(b), "hello from the demo") || !strings.HasPrefix(string(b), "id,participantId,") {
		t.Fatalf("export: %q", b)
	}
	if err := run(context.Background(), []string{"export", "no-such-session", "--data", dir}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("export of a missing session succeeded")
	}

	// A second start reuses the key and doesn't print it again; the message is still there.
	lines, stop = startRun(t, []string{"--listen", "127.0.0.1:0", "--data", dir}, nil)
	out, _ = readUntil(t, lines, listening)
	if strings.Contains(strings.Join(out, "\n"), key[1]) {
		t.Fatal("admin key printed again on the second start")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	c, err := parseServe([]string{"--listen", "127.0.0.1:9999"}, func(k string) string {
		return map[string]string{"PARLEY_LISTEN": "0.0.0.0:1", "PARLEY_MAX_TEXT_LENGTH": "500"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != "127.0.0.1:9999" || c.hub.MaxTextLength != 500 {
		t.Fatalf("listen %q max text %d", c.listen, c.hub.MaxTextLength)
	}
	if _, err := parseServe([]string{"--no-such-flag"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestAPIKeyFromEnv(t *testing.T) {
	dir := t.TempDir()
	lines, stop := startRun(t, []string{"--listen", "127.0.0.1:0", "--data", dir}, map[string]string{"PARLEY_API_KEY": "from-env"})
	out, m := readUntil(t, lines, listening)
	if strings.Contains(strings.Join(out, "\n"), "admin key") {
		t.Fatal("a given key must not be printed")
	}
	req, _ := http.NewRequest("GET", m[1]+"/v2/presets", nil)
	req.Header.Set("Authorization", "Bearer from-env")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("env key: %v", err)
	}
	var body struct{ Success bool }
	json.NewDecoder(res.Body).Decode(&body)
	if !body.Success {
		t.Fatal("not a success envelope")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestVersionAndBackup(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "parley ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	dir := t.TempDir()
	lines, stop := startRun(t, []string{"--listen", "127.0.0.1:0", "--data", dir, "--demo"}, nil)
	readUntil(t, lines, listening)
	dst := filepath.Join(t.TempDir(), "backup.db")
	out.Reset()
	// The backup is taken while the server runs.
	if err := run(context.Background(), []string{"backup", "--data", dir, dst}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() == 0 {
		t.Fatalf("backup file: %v", err)
	}
	if err := run(context.Background(), []string{"backup", "--data", dir, dst}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
}

// TestDependencyDirection keeps the domain free of transport and storage:
// chat imports only the standard library; storage knows no HTTP; web no SQL.
func TestDependencyDirection(t *testing.T) {
	rules := map[string]*regexp.Regexp{
		"./chat":    regexp.MustCompile(`^(net/http|database/sql|github\.com/|modernc\.org/|golang\.org/x/|parley/(web|storage))`),
		"./storage": regexp.MustCompile(`^(net/http|github\.com/olahol/|github\.com/julienschmidt/|parley/web)`),
		"./web":     regexp.MustCompile(`^(database/sql|modernc\.org/|parley/storage)`),
	}
	for pkg, bad := range rules {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if bad.MatchString(dep) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestEmbeddedClient: the binary serves the web client, the admin page and
// the SDK from its embedded files, pages under a strict CSP, and the
// client's first load stays within its 150 KB budget of JS and CSS.
func TestEmbeddedClient(t *testing.T) {
	lines, stop := startRun(t, []string{"--listen", "127.0.0.1:0", "--data", t.TempDir()}, nil)
	_, m := readUntil(t, lines, listening)
	defer stop()
	base := m[1]
	for path, want := range map[string]string{
		"/":               "text/html",
		"/admin":          "text/html",
		"/sdk/parley.js":  "text/javascript",
		"/static/app.js":  "text/javascript",
		"/static/app.css": "text/css",
	} {
		res, err := http.Get(base + path)
		if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), want) {
			t.Fatalf("%s: %v %v %s", path, err, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if want == "text/html" && !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("%s without CSP", path)
		}
		res.Body.Close()
	}
	if res, _ := http.Get(base + "/static/"); res.StatusCode != 404 {
		t.Fatalf("directory listing: %d", res.StatusCode)
	}
	total := 0
	for _, f := range []string{"app.js", "app.css", "sdk/parley.js"} {
		b, err := fs.ReadFile(static.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
	}
	if total > 150<<10 {
		t.Fatalf("first load is %d bytes of JS and CSS; the budget is 150 KB", total)
	}
}
