package web

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"parley/chat"
)

// tokenBucket is chat.Limiter on golang.org/x/time/rate. Time is passed in,
// so the hub's clock (fake in tests) drives it.
type tokenBucket struct{ l *rate.Limiter }

// NewTokenBucket returns a bucket that holds perMinute tokens and refills
// them evenly over a minute: 180 a minute means a burst of 180, then one
// every third of a second.
func NewTokenBucket(perMinute int) chat.Limiter {
	if perMinute <= 0 {
		return tokenBucket{rate.NewLimiter(rate.Inf, 0)}
	}
	return tokenBucket{rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), perMinute)}
}

func (b tokenBucket) Reserve(now time.Time) (bool, time.Duration) {
	r := b.l.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// ipLimiter limits requests per client address, so one address can't
// exhaust the server with connection attempts or API calls.
type ipLimiter struct {
	rate       rate.Limit
	burst      int
	trustProxy bool

	mu   sync.Mutex
	ips  map[string]*ipEntry
	last time.Time
}

type ipEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newIPLimiter(perSecond float64, burst int, trustProxy bool) *ipLimiter {
	return &ipLimiter{rate: rate.Limit(perSecond), burst: burst, trustProxy: trustProxy, ips: map[string]*ipEntry{}}
}

// allow reports whether the request's address may go on.
func (l *ipLimiter) allow(r *http.Request) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	ip := clientIP(r, l.trustProxy)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) > time.Minute {
		// Forget idle addresses so the map can't grow without bound.
		for k, e := range l.ips {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(l.ips, k)
			}
		}
		l.last = now
	}
	e := l.ips[ip]
	if e == nil {
		e = &ipEntry{l: rate.NewLimiter(l.rate, l.burst)}
		l.ips[ip] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}

// clientIP is the peer address, or with trustProxy the last address a
// proxy added to X-Forwarded-For.
func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
