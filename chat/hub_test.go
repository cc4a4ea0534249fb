package chat_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"parley/chat"
	"parley/chat/chattest"
	"parley/storage"
)

// fakeConn records frames; full makes Send report a full queue.
type fakeConn struct {
	mu     sync.Mutex
	frames [][]byte
	full   bool
	closed int
}

func (c *fakeConn) Send(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return false
	}
	c.frames = append(c.frames, b)
	return true
}

func (c *fakeConn) Close(code int, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = code
}

func (c *fakeConn) state() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames), c.closed
}

type everyToken struct{}

func (everyToken) Reserve(time.Time) (bool, time.Duration) { return true, 0 }

func newHub(t *testing.T) *chat.Hub {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, filepath.Join(t.TempDir(), "p.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := chat.NewHub(ctx, chat.Options{Store: st, Clock: chattest.NewClock(time.Now()), Config: chat.DefaultConfig(),
		NewLimiter: func(int) chat.Limiter { return everyToken{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// TestFullQueueClosesWith4008: a client whose queue is full is closed with
// 4008 on the first frame it can't take; the others get every frame.
func TestFullQueueClosesWith4008(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	m, _ := h.CreateMeeting(ctx, chat.MeetingInput{Title: "t"})
	join := func(name string, conn *fakeConn) *chat.Client {
		p, err := h.AddParticipant(ctx, m.ID, chat.ParticipantInput{Name: name, PresetName: "participant", CustomParticipantID: name})
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := h.Connect(ctx, p, conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Ready()
		return c
	}
	fast, slow := &fakeConn{}, &fakeConn{}
	sender := join("sender", fast)
	join("slow", slow)
	before, _ := slow.state()
	slow.mu.Lock()
	slow.full = true
	slow.mu.Unlock()
	for i := 0; i < 3; i++ {
		if _, err := sender.Send(ctx, chat.SendRequest{Type: "text", Message: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, code := slow.state(); code != chat.CloseTooSlow || n != before {
		t.Fatalf("slow: %d frames, closed %d", n, code)
	}
	if n, code := fast.state(); code != 0 || n < 3 {
		t.Fatalf("fast: %d frames, closed %d", n, code)
	}
}

// TestEventsHeldUntilReady: events committed between Connect and Ready are
// delivered after the auth reply, once, and none is lost.
func TestEventsHeldUntilReady(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	m, _ := h.CreateMeeting(ctx, chat.MeetingInput{Title: "t"})
	pa, _ := h.AddParticipant(ctx, m.ID, chat.ParticipantInput{Name: "a", PresetName: "participant", CustomParticipantID: "a"})
	pb, _ := h.AddParticipant(ctx, m.ID, chat.ParticipantInput{Name: "b", PresetName: "participant", CustomParticipantID: "b"})
	a, _, err := h.Connect(ctx, pa, &fakeConn{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Ready()
	conn := &fakeConn{}
	b, reply, err := h.Connect(ctx, pb, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, chat.SendRequest{Type: "text", Message: "between"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := conn.state(); n != 0 {
		t.Fatal("event sent before the client was ready")
	}
	b.Ready()
	if n, _ := conn.state(); n != 1 {
		t.Fatalf("%d frames after Ready, want the one held (auth seq %d)", n, reply.Seq)
	}
}
