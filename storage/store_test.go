package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"parley/chat"
	"parley/storage"
)

func open(t *testing.T, path string) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMeeting(t *testing.T, s *storage.Store) chat.Meeting {
	t.Helper()
	now := chat.At(time.Now())
	m := chat.Meeting{ID: chat.NewID(), Title: "t", Status: chat.StatusActive, PersistChat: true, CreatedAt: now, UpdatedAt: now}
	if err := s.Update(context.Background(), func(tx chat.Tx) error { return tx.InsertMeeting(context.Background(), m) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGroupCommit: concurrent updates share transactions; a failing one is
// undone alone (its seq too), and after-commit callbacks run in seq order.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "p.db"))
	defer s.Close()
	m := newMeeting(t, s)

	var mu sync.Mutex
	var delivered []int64
	var wg sync.WaitGroup
	errBoom := errors.New("boom")
	const n = 200
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx chat.Tx) error {
				seq, err := tx.NextSeq(ctx, m.ID)
				if err != nil {
					return err
				}
				if i%10 == 0 {
					return errBoom // its seq must not be used up
				}
				tx.AfterCommit(func() {
					mu.Lock()
					delivered = append(delivered, seq)
					mu.Unlock()
				})
				return tx.AppendChange(ctx, chat.Change{MeetingID: m.ID, Seq: seq, MessageID: "m", Event: "e", Frame: []byte("{}")})
			})
			if (i%10 == 0) != errors.Is(err, errBoom) {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(delivered) != n-n/10 {
		t.Fatalf("delivered %d", len(delivered))
	}
	for i, seq := range delivered {
		if seq != int64(i+1) {
			t.Fatalf("delivery %d has seq %d: not commit order or a gap", i, seq)
		}
	}
	got, err := s.Meeting(ctx, m.ID)
	if err != nil || got.Seq != int64(len(delivered)) {
		t.Fatalf("meeting seq %d, err %v", got.Seq, err)
	}
	changes, err := s.Changes(ctx, m.ID, 0, 1000)
	if err != nil || len(changes) != len(delivered) {
		t.Fatalf("changes %d, err %v", len(changes), err)
	}
}

func TestUpdatePanicIsAnError(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"))
	defer s.Close()
	err := s.Update(context.Background(), func(tx chat.Tx) error { panic("bad update") })
	if err == nil {
		t.Fatal("panic not reported")
	}
	newMeeting(t, s) // the writer survived
}

func TestReopenKeepsDataAndEpoch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s := open(t, path)
	m := newMeeting(t, s)
	epoch := s.Epoch()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(chat.Tx) error { return nil }); !errors.Is(err, chat.ErrClosed) {
		t.Fatalf("update after close: %v", err)
	}
	s = open(t, path) // migrations run again and must change nothing
	defer s.Close()
	if s.Epoch() != epoch {
		t.Fatal("epoch changed on reopen")
	}
	if _, err := s.Meeting(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Meeting(ctx, "missing"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("missing meeting: %v", err)
	}
	presets, err := s.ListPresets(ctx)
	if err != nil || len(presets) != 3 {
		t.Fatalf("presets %v %v", presets, err)
	}
}

func TestBackupIsAConsistentCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "p.db"))
	defer s.Close()
	m := newMeeting(t, s)
	if err := s.Backup(ctx, filepath.Join(dir, "copy.db")); err != nil {
		t.Fatal(err)
	}
	c := open(t, filepath.Join(dir, "copy.db"))
	defer c.Close()
	if _, err := c.Meeting(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if c.Epoch() != s.Epoch() {
		t.Fatal("a backup is the same database: same epoch")
	}
}

func TestSynchronousSetting(t *testing.T) {
	if _, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), storage.Options{Synchronous: "SOMETIMES"}); err == nil {
		t.Fatal("bad synchronous accepted")
	}
}
