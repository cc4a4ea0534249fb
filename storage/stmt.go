package storage

import (
	"context"
	"database/sql"
	"sync"
)

// preparer is a pool or a connection that statements can be prepared on.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// stmtCache keeps statements prepared, so SQLite parses each query text
// once rather than on every call: on the writer, parsing was an eighth of
// the CPU a message cost.
type stmtCache struct {
	on preparer
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCached bounds the cache; queries built on the fly (filters, IN lists)
// beyond it run unprepared.
const maxCached = 256

func newStmtCache(on preparer) *stmtCache { return &stmtCache{on: on, m: map[string]*sql.Stmt{}} }

// get returns the prepared statement for query, or nil to run it plainly.
// The lock is not held while preparing: on a pool, preparing may wait for a
// free connection.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxCached
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.on.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// cachedDB runs queries through the cache, falling back to db.
type cachedDB struct {
	db dbtx
	c  *stmtCache
}

func (d cachedDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := d.c.get(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.db.ExecContext(ctx, q, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.c.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.db.QueryContext(ctx, q, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.c.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.db.QueryRowContext(ctx, q, args...)
}
