// Package chat is parley's domain: meetings, sessions, participants, presets and
// messages, the rules about who may do what, and the Hub that sequences every
// change and fans it out to connected clients. It declares the interfaces it
// needs (Store, Conn, Clock, Limiter) and imports no transport or database code,
// so the same rules hold whatever carries the bytes or keeps them.
package chat

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors say what kind of failure happened; the transport maps each
// to a status and a protocol code in one place.
var (
	ErrInvalid      = errors.New("invalid request")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrRateLimited  = errors.New("rate limited")
	ErrTooLarge     = errors.New("payload too large")
	ErrClosed       = errors.New("closed")
)

// Error is a failure the client should see: its Kind is one of the sentinel
// errors, Code an optional more precise protocol code (such as
// "text_too_long"), and RetryAfter is set for rate limits.
type Error struct {
	Kind       error
	Code       string
	Msg        string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is match the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

// errorf builds an *Error of the given kind with a formatted message.
func errorf(kind error, code, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Clock is the source of time for everything with a deadline: keep-alives,
// token expiry, rate limits. Tests pass a fake so nothing waits a minute.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

// SystemClock returns the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// Limiter is one token bucket. Reserve takes a token at now if one is there;
// otherwise it takes nothing and says how long until one will be.
type Limiter interface {
	Reserve(now time.Time) (ok bool, wait time.Duration)
}

// Time is a UTC instant that marshals as RFC 3339 with milliseconds, the
// format every timestamp on parley's wire uses.
type Time struct{ time.Time }

// TimeFormat is the wire format of every timestamp.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes the instant as RFC 3339 UTC with milliseconds.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimeFormat) + `"`), nil
}

// String formats the instant as it appears on the wire.
func (t Time) String() string { return t.UTC().Format(TimeFormat) }

// At returns the instant t truncated to the millisecond precision the store keeps.
func At(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// FromMillis converts unix milliseconds, as the store keeps them, to a Time.
func FromMillis(ms int64) Time { return Time{time.UnixMilli(ms).UTC()} }
