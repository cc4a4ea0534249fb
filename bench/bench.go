// Package bench is parley's load generator (`parley bench`): it creates
// meetings and participants through the admin API, opens real WebSocket
// clients, and measures what users feel — send→ack and send→delivery
// latency, throughput, and the server's memory — against a running server.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Config describes one run.
type Config struct {
	URL       string        // the server, e.g. http://127.0.0.1:8080
	APIKey    string        // its admin key
	Rooms     int           // meetings
	RoomSize  int           // connected participants per meeting
	Rate      float64       // messages per second in all, spread over the rooms
	Duration  time.Duration // measured time, after Warmup
	Warmup    time.Duration
	Payload   int  // bytes of text per message
	Idle      bool // connect and hold only; report memory
	ServerPID int  // when set, the server's RSS is read from /proc
}

// Result is what a run measured.
type Result struct {
	Conns                   int
	ConnectTime             time.Duration
	Sent, Acked, Refused    int64
	Delivered               int64
	Ack, Delivery           Percentiles
	MsgsPerSec, DelivPerSec float64
	ServerRSSKiB            int64
}

// Percentiles of a latency distribution.
type Percentiles struct{ P50, P99, P999, Max time.Duration }

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Percentiles{P50: at(0.5), P99: at(0.99), P999: at(0.999), Max: d[len(d)-1]}
}

func (p Percentiles) String() string {
	return fmt.Sprintf("p50 %v  p99 %v  p99.9 %v  max %v", p.P50.Round(time.Microsecond), p.P99.Round(time.Microsecond), p.P999.Round(time.Microsecond), p.Max.Round(time.Microsecond))
}

// String is the report printed by `parley bench`.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connections     %d (connected and authenticated in %v)\n", r.Conns, r.ConnectTime.Round(time.Millisecond))
	if r.Sent > 0 {
		fmt.Fprintf(&b, "messages        %d sent, %d acked, %d refused — %.0f msg/s acked\n", r.Sent, r.Acked, r.Refused, r.MsgsPerSec)
		fmt.Fprintf(&b, "deliveries      %d — %.0f/s\n", r.Delivered, r.DelivPerSec)
		fmt.Fprintf(&b, "send→ack        %v\n", r.Ack)
		fmt.Fprintf(&b, "send→delivery   %v\n", r.Delivery)
	}
	if r.ServerRSSKiB > 0 {
		fmt.Fprintf(&b, "server RSS      %.1f MiB", float64(r.ServerRSSKiB)/1024)
		if r.Conns > 0 {
			fmt.Fprintf(&b, " (%.1f KiB per connection)", float64(r.ServerRSSKiB)/float64(r.Conns))
		}
		b.WriteString("\n")
	}
	return b.String()
}

type client struct {
	ws   *websocket.Conn
	mu   sync.Mutex // serialises writes
	sent sync.Map   // ref -> time sent
}

// Run performs one benchmark run.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	if cfg.Rooms < 1 || cfg.RoomSize < 1 {
		return Result{}, errors.New("bench: rooms and room-size must be at least 1")
	}
	api := &adminAPI{base: strings.TrimRight(cfg.URL, "/"), key: cfg.APIKey}
	fmt.Fprintf(progress, "setting up %d rooms of %d…\n", cfg.Rooms, cfg.RoomSize)
	tokens := make([][]string, cfg.Rooms)
	for i := range tokens {
		var m struct{ ID string }
		if err := api.call("POST", "/v2/meetings", map[string]any{"title": fmt.Sprintf("bench %d", i)}, &m); err != nil {
			return Result{}, err
		}
		for j := 0; j < cfg.RoomSize; j++ {
			var p struct{ Token string }
			err := api.call("POST", "/v2/meetings/"+m.ID+"/participants", map[string]any{
				"name": fmt.Sprintf("p%d", j), "preset_name": "participant", "custom_participant_id": fmt.Sprintf("bench-%d-%d", i, j),
			}, &p)
			if err != nil {
				return Result{}, err
			}
			tokens[i] = append(tokens[i], p.Token)
		}
	}

	var res Result
	var deliveries atomic.Int64
	var latMu sync.Mutex
	var delivLat, ackLat []time.Duration
	measuring := atomic.Bool{}
	var acked, refused atomic.Int64

	wsURL := "ws" + strings.TrimPrefix(api.base, "http") + "/v2/realtime"
	start := time.Now()
	rooms := make([][]*client, cfg.Rooms)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	sem := make(chan struct{}, 64)
	for i := range tokens {
		rooms[i] = make([]*client, len(tokens[i]))
		for j, tok := range tokens[i] {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := connect(wsURL, tok)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				rooms[i][j] = c
			}()
		}
	}
	wg.Wait()
	select {
	case err := <-errc:
		return res, err
	default:
	}
	res.ConnectTime = time.Since(start)
	res.Conns = cfg.Rooms * cfg.RoomSize
	fmt.Fprintf(progress, "%d connections in %v\n", res.Conns, res.ConnectTime.Round(time.Millisecond))
	defer func() {
		for _, r := range rooms {
			for _, c := range r {
				c.ws.Close()
			}
		}
	}()

	// Readers: every client times each delivery by the send time the
	// sender put at the start of the text.
	for _, r := range rooms {
		for _, c := range r {
			go c.read(func(frame []byte) {
				now := time.Now()
				if bytes.HasPrefix(frame, []byte(`{"ref"`)) {
					var rp struct {
						Ref string
						OK  bool
					}
					if json.Unmarshal(frame, &rp) != nil {
						return
					}
					if t, ok := c.sent.LoadAndDelete(rp.Ref); ok && measuring.Load() {
						if rp.OK {
							acked.Add(1)
							latMu.Lock()
							ackLat = append(ackLat, now.Sub(t.(time.Time)))
							latMu.Unlock()
						} else {
							refused.Add(1)
						}
					}
					return
				}
				if ts, ok := sentAt(frame); ok && measuring.Load() {
					deliveries.Add(1)
					latMu.Lock()
					delivLat = append(delivLat, now.Sub(ts))
					latMu.Unlock()
				}
			})
		}
	}

	if cfg.Idle {
		fmt.Fprintf(progress, "holding %d idle connections for %v…\n", res.Conns, cfg.Duration)
		select {
		case <-time.After(cfg.Duration):
		case <-ctx.Done():
		}
		res.ServerRSSKiB = rss(cfg.ServerPID)
		return res, nil
	}

	// Senders: the first client of each room, at Rate/Rooms messages a second.
	perRoom := cfg.Rate / float64(cfg.Rooms)
	if perRoom <= 0 {
		return res, errors.New("bench: rate must be positive")
	}
	interval := time.Duration(float64(time.Second) / perRoom)
	pad := strings.Repeat("x", max(0, cfg.Payload-20))
	var sent atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, cfg.Warmup+cfg.Duration)
	defer cancel()
	go func() {
		select {
		case <-time.After(cfg.Warmup):
			measuring.Store(true)
		case <-runCtx.Done():
		}
	}()
	var swg sync.WaitGroup
	for i, r := range rooms {
		swg.Add(1)
		go func() {
			defer swg.Done()
			c := r[0]
			// Stagger the rooms so their sends don't arrive in lockstep.
			next := time.Now().Add(time.Duration(i) * interval / time.Duration(len(rooms)))
			for n := 0; ; n++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-runCtx.Done():
						return
					}
				}
				if runCtx.Err() != nil {
					return
				}
				next = next.Add(interval)
				ref := strconv.Itoa(n)
				now := time.Now()
				text := strconv.FormatInt(now.UnixNano(), 10) + " " + pad
				frame, _ := json.Marshal(map[string]any{"op": "chat.send", "ref": ref, "data": map[string]any{"type": "text", "message": text}})
				if measuring.Load() {
					c.sent.Store(ref, now)
					sent.Add(1)
				}
				c.mu.Lock()
				err := c.ws.WriteMessage(websocket.TextMessage, frame)
				c.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	swg.Wait()
	time.Sleep(500 * time.Millisecond) // let the last deliveries land; not part of any figure
	measuring.Store(false)
	latMu.Lock()
	defer latMu.Unlock()
	res.Sent, res.Acked, res.Refused, res.Delivered = sent.Load(), acked.Load(), refused.Load(), deliveries.Load()
	res.Ack, res.Delivery = percentiles(ackLat), percentiles(delivLat)
	secs := cfg.Duration.Seconds()
	res.MsgsPerSec, res.DelivPerSec = float64(res.Acked)/secs, float64(res.Delivered)/secs
	res.ServerRSSKiB = rss(cfg.ServerPID)
	return res, nil
}

// sentAt reads the send time a chat.message frame's text starts with,
// without decoding the whole frame.
func sentAt(frame []byte) (time.Time, bool) {
	if !bytes.HasPrefix(frame, []byte(`{"event":"chat.message"`)) {
		return time.Time{}, false
	}
	i := bytes.Index(frame, []byte(`"message":"`))
	if i < 0 {
		return time.Time{}, false
	}
	rest := frame[i+len(`"message":"`):]
	j := bytes.IndexByte(rest, ' ')
	if j < 0 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

func connect(url, token string) (*client, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: dial: %w", err)
	}
	if err := ws.WriteJSON(map[string]any{"op": "auth", "ref": "auth", "data": map[string]any{"token": token}}); err != nil {
		ws.Close()
		return nil, err
	}
	var reply struct{ OK bool }
	if err := ws.ReadJSON(&reply); err != nil || !reply.OK {
		ws.Close()
		return nil, fmt.Errorf("bench: auth failed: %v", err)
	}
	return &client{ws: ws}, nil
}

func (c *client) read(on func([]byte)) {
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		on(b)
	}
}

// rss reads a process's resident set size in KiB from /proc (Linux).
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

type adminAPI struct{ base, key string }

func (a *adminAPI) call(method, path string, body, into any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	var env struct {
		Success bool
		Data    json.RawMessage
		Error   *struct{ Code, Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	if !env.Success {
		return fmt.Errorf("bench: %s %s: %s (start the server with --ip-rate 0)", method, path, env.Error.Message)
	}
	return json.Unmarshal(env.Data, into)
}
