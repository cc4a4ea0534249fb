// Package storage keeps parley's state in SQLite (modernc.org/sqlite, pure
// Go): one writer connection that commits concurrent writes together, a
// small pool of read-only connections, and numbered SQL migrations embedded
// in the binary and applied at open.
package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"sync"

	"parley/chat"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the store.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: FULL (default) survives
	// power loss; NORMAL only process crashes.
	Synchronous string
	// Readers is the size of the read pool.
	Readers int
	// MaxBatch bounds how many updates one transaction commits together.
	MaxBatch int
	Logger   *slog.Logger
}

// Store is chat.Store on SQLite.
type Store struct {
	queries // reads outside View go to the reader pool

	w, r *sql.DB
	// wconn is the writer's own connection: it runs BEGIN and COMMIT
	// itself, so statements prepared on it (wc) last across transactions.
	wconn *sql.Conn
	wc    *stmtCache
	rc    *stmtCache // statements prepared on the read pool
	dsn   string     // without per-pool pragmas, for one-off connections
	epoch string
	log   *slog.Logger

	reqs     chan *writeReq
	done     chan struct{}
	maxBatch int

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
}

var _ chat.Store = (*Store)(nil)

type writeReq struct {
	ctx   context.Context
	fn    func(chat.Tx) error
	after []func()
	err   error
	done  chan struct{}
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	switch o.Synchronous {
	case "FULL", "NORMAL", "EXTRA", "OFF":
	default:
		return nil, fmt.Errorf("storage: synchronous must be FULL, NORMAL, EXTRA or OFF, not %q", o.Synchronous)
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// busy_timeout comes first so that it already applies while the other
	// pragmas run; _txlock=immediate takes the write lock at BEGIN rather
	// than failing to upgrade a read lock mid-transaction.
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=synchronous("+o.Synchronous+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("storage: open readers: %w", err)
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	rc := newStmtCache(r)
	s := &Store{queries: queries{q: cachedDB{r, rc}}, w: w, r: r, rc: rc, dsn: base, log: o.Logger, reqs: make(chan *writeReq, o.MaxBatch), done: make(chan struct{}), maxBatch: o.MaxBatch}
	if err := w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&s.epoch); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("storage: read epoch: %w", err)
	}
	if s.wconn, err = w.Conn(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("storage: writer connection: %w", err)
	}
	s.wc = newStmtCache(s.wconn)
	go s.writer()
	return s, nil
}

// migrate applies, in name order, each embedded migration not yet recorded,
// each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("storage: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := applyMigration(ctx, db, name); err != nil {
			return fmt.Errorf("storage: migration %s: %w", name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, name string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, unixepoch() * 1000)`, name); err != nil {
		return err
	}
	return tx.Commit()
}

// Epoch identifies this database.
func (s *Store) Epoch() string { return s.epoch }

// Update queues fn for the writer and waits for its commit.
func (s *Store) Update(ctx context.Context, fn func(chat.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("storage: %w", chat.ErrClosed)
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the update is the writer's: waiting for it even if ctx
	// ends means a caller never reports failure for a write that commits.
	<-req.done
	return req.err
}

// writer is the only goroutine that writes. It takes whatever updates are
// waiting, runs each in a savepoint of one transaction, commits once, and
// only then runs their after-commit callbacks in order: one fsync for the
// batch, and events that leave in commit order.
func (s *Store) writer() {
	defer close(s.done)
	for req := range s.reqs {
		batch := []*writeReq{req}
	drain:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*writeReq) {
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil && err != nil {
				r.err = err
				r.after = nil
			}
			for _, f := range r.after {
				f()
			}
			close(r.done)
		}
	}
	ctx := context.Background()
	exec := func(q string) error { _, err := s.wconn.ExecContext(ctx, q); return err }
	if err := exec(`BEGIN IMMEDIATE`); err != nil {
		finish(fmt.Errorf("storage: begin: %w", err))
		return
	}
	fail := func(what string, err error) {
		exec(`ROLLBACK`)
		finish(fmt.Errorf("storage: %s: %w", what, err))
	}
	q := queries{q: cachedDB{s.wconn, s.wc}}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if err := exec(`SAVEPOINT u`); err != nil {
			fail("savepoint", err)
			return
		}
		r.err = runUpdate(&writeTx{queries: q, req: r}, r.fn)
		if r.err != nil {
			r.after = nil
			if err := exec(`ROLLBACK TO u`); err != nil {
				fail("rollback to savepoint", err)
				return
			}
		}
		if err := exec(`RELEASE u`); err != nil {
			fail("release savepoint", err)
			return
		}
	}
	if err := exec(`COMMIT`); err != nil {
		fail("commit", err)
		return
	}
	finish(nil)
}

// runUpdate runs fn, turning a panic into an error so one bad update can't
// take the writer down with the rest of its batch.
func runUpdate(tx *writeTx, fn func(chat.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: update panicked: %v", p)
		}
	}()
	return fn(tx)
}

// View runs fn on one read transaction, a consistent snapshot under WAL.
func (s *Store) View(ctx context.Context, fn func(chat.Reader) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("storage: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(queries{q: tx})
}

// Close finishes queued writes, checkpoints the WAL and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	s.wc.close()
	s.rc.close()
	_, cerr := s.wconn.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`)
	return errors.Join(cerr, s.wconn.Close(), s.r.Close(), s.w.Close())
}

// Backup writes a consistent copy of the database to path while it is in use.
func (s *Store) Backup(ctx context.Context, path string) error {
	// VACUUM INTO reads in one transaction, so the copy is consistent; it
	// needs a connection that isn't query_only, but never takes the write
	// lock, so the writer goes on meanwhile.
	db, err := sql.Open("sqlite", s.dsn)
	if err != nil {
		return fmt.Errorf("storage: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("storage: backup: %w", err)
	}
	return nil
}

// writeTx is chat.Tx over the writer's transaction.
type writeTx struct {
	queries
	req *writeReq
}

func (t *writeTx) AfterCommit(f func()) { t.req.after = append(t.req.after, f) }
