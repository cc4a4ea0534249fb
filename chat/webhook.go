package chat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Webhook events (SPEC §8).
const (
	EventMeetingStarted    = "meeting.started"
	EventMeetingEnded      = "meeting.ended"
	EventParticipantJoined = "meeting.participantJoined"
	EventParticipantLeft   = "meeting.participantLeft"
	EventChatSynced        = "meeting.chatSynced"
)

var webhookEvents = []string{EventMeetingStarted, EventMeetingEnded, EventParticipantJoined, EventParticipantLeft, EventChatSynced}

// Webhook is an endpoint that receives events. Secret is shown only when
// the webhook is created.
type Webhook struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Enabled   bool     `json:"enabled"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt Time     `json:"created_at"`
	UpdatedAt Time     `json:"updated_at"`
}

// WebhookInput creates a webhook.
type WebhookInput struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Events  []string `json:"events"`
	Enabled *bool    `json:"enabled"`
}

// WebhookPatch changes a webhook; absent fields stay as they are.
type WebhookPatch struct {
	Name    *string  `json:"name"`
	URL     *string  `json:"url"`
	Events  []string `json:"events"`
	Enabled *bool    `json:"enabled"`
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID            string          `json:"id"`
	WebhookID     string          `json:"webhook_id"`
	Event         string          `json:"event"`
	Payload       json.RawMessage `json:"payload"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	LastStatus    int             `json:"last_status,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	NextAttemptAt *Time           `json:"next_attempt_at"`
	CreatedAt     Time            `json:"created_at"`
	UpdatedAt     Time            `json:"updated_at"`
}

// DueDelivery is a delivery with where and how to send it.
type DueDelivery struct {
	Delivery
	URL    string
	Secret string
}

// Poster sends one webhook request; package web implements it over HTTP.
// It returns the response status, or an error when there was none.
type Poster interface {
	Post(ctx context.Context, url string, header map[string]string, body []byte) (status int, err error)
}

// ChatLinker makes a fresh download link for a session's chat.
type ChatLinker func(sessionID string) (link string, expiry Time)

// Retry policy: exponential backoff from 5 s up to an hour between tries,
// for 25 hours (SPEC: at least 24).
const (
	retryFirst  = 5 * time.Second
	retryMax    = time.Hour
	retryWindow = 25 * time.Hour
)

func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

func validWebhook(w Webhook) error {
	if err := checkName("name", w.Name, 200); err != nil {
		return err
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(w.URL) > 2048 {
		return errorf(ErrInvalid, "invalid_request", "url must be an absolute http or https URL")
	}
	if len(w.Events) == 0 {
		return errorf(ErrInvalid, "invalid_request", "events must name at least one of %s", strings.Join(webhookEvents, ", "))
	}
	for _, e := range w.Events {
		if !contains(webhookEvents, e) {
			return errorf(ErrInvalid, "invalid_request", "unknown event %q; events are %s", e, strings.Join(webhookEvents, ", "))
		}
	}
	return nil
}

// CreateWebhook registers an endpoint; the answer carries its secret, once.
func (h *Hub) CreateWebhook(ctx context.Context, in WebhookInput) (Webhook, error) {
	now := At(h.clock.Now())
	w := Webhook{ID: NewID(), Name: in.Name, URL: in.URL, Events: in.Events, Enabled: true, Secret: newSecret(), CreatedAt: now, UpdatedAt: now}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
	if err := validWebhook(w); err != nil {
		return Webhook{}, err
	}
	err := h.store.Update(ctx, func(tx Tx) error { return tx.InsertWebhook(ctx, w) })
	return w, err
}

// Webhooks lists every webhook, without secrets.
func (h *Hub) Webhooks(ctx context.Context) ([]Webhook, error) {
	ws, err := h.store.ListWebhooks(ctx)
	for i := range ws {
		ws[i].Secret = ""
	}
	return ws, err
}

// Webhook returns one webhook, without its secret.
func (h *Hub) Webhook(ctx context.Context, id string) (Webhook, error) {
	w, err := h.store.Webhook(ctx, id)
	w.Secret = ""
	return w, err
}

// UpdateWebhook changes a webhook.
func (h *Hub) UpdateWebhook(ctx context.Context, id string, in WebhookPatch) (Webhook, error) {
	var out Webhook
	err := h.store.Update(ctx, func(tx Tx) error {
		w, err := tx.Webhook(ctx, id)
		if err != nil {
			return err
		}
		if in.Name != nil {
			w.Name = *in.Name
		}
		if in.URL != nil {
			w.URL = *in.URL
		}
		if in.Events != nil {
			w.Events = in.Events
		}
		if in.Enabled != nil {
			w.Enabled = *in.Enabled
		}
		if err := validWebhook(w); err != nil {
			return err
		}
		w.UpdatedAt = At(h.clock.Now())
		out = w
		return tx.UpdateWebhook(ctx, w)
	})
	out.Secret = ""
	return out, err
}

// DeleteWebhook removes a webhook and what it had queued.
func (h *Hub) DeleteWebhook(ctx context.Context, id string) error {
	return h.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Webhook(ctx, id); err != nil {
			return err
		}
		return tx.DeleteWebhook(ctx, id)
	})
}

// Deliveries lists a webhook's most recent deliveries, newest first.
func (h *Hub) Deliveries(ctx context.Context, webhookID string) ([]Delivery, error) {
	if _, err := h.store.Webhook(ctx, webhookID); err != nil {
		return nil, err
	}
	return h.store.Deliveries(ctx, webhookID, 100)
}

// enqueue writes an event for every enabled webhook that wants it, in the
// caller's transaction, and wakes the sender once that commits.
func (h *Hub) enqueue(ctx context.Context, tx Tx, event string, payload any) error {
	hooks, err := tx.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	var body []byte
	now := At(h.clock.Now())
	queued := false
	for _, w := range hooks {
		if !w.Enabled || !contains(w.Events, event) {
			continue
		}
		if body == nil {
			if body, err = json.Marshal(payload); err != nil {
				return err
			}
		}
		d := Delivery{ID: "msg_" + strings.ReplaceAll(NewID(), "-", ""), WebhookID: w.ID, Event: event, Payload: body,
			Status: DeliveryPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertDelivery(ctx, d); err != nil {
			return err
		}
		queued = true
	}
	if queued {
		tx.AfterCommit(h.wakeDeliveries)
	}
	return nil
}

func (h *Hub) wakeDeliveries() {
	select {
	case h.deliveryWake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// meetingPayload is the "meeting" object of RealtimeKit's webhooks.
type meetingPayload struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	Title     string `json:"title"`
	Status    string `json:"status"`
	CreatedAt Time   `json:"createdAt"`
	StartedAt Time   `json:"startedAt"`
	EndedAt   *Time  `json:"endedAt,omitempty"`
}

type participantPayload struct {
	PeerID              string `json:"peerId"`
	UserDisplayName     string `json:"userDisplayName"`
	CustomParticipantID string `json:"customParticipantId"`
	JoinedAt            Time   `json:"joinedAt"`
	LeftAt              *Time  `json:"leftAt,omitempty"`
}

type eventPayload struct {
	Event       string              `json:"event"`
	Meeting     meetingPayload      `json:"meeting"`
	Participant *participantPayload `json:"participant,omitempty"`
	Reason      string              `json:"reason,omitempty"`
}

type chatSyncedPayload struct {
	Event                 string `json:"event"`
	Title                 string `json:"title"`
	CreatedAt             Time   `json:"createdAt"`
	StartedAt             Time   `json:"startedAt"`
	EndedAt               Time   `json:"endedAt"`
	MeetingID             string `json:"meetingId"`
	SessionID             string `json:"sessionId"`
	ChatDownloadURL       string `json:"chatDownloadUrl"`
	ChatDownloadURLExpiry Time   `json:"chatDownloadUrlExpiry"`
}

func meetingOf(m Meeting, s Session) meetingPayload {
	return meetingPayload{ID: m.ID, SessionID: s.ID, Title: m.Title, Status: s.Status, CreatedAt: m.CreatedAt, StartedAt: s.StartedAt, EndedAt: s.EndedAt}
}

// Sign returns the Standard Webhooks signature header value for a body.
func Sign(secret, id string, timestamp int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		key = []byte(secret)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// RunDeliveries sends queued webhook deliveries until ctx ends: due ones
// at once, failed ones again with exponential backoff. Deliveries survive
// restarts in the store, so whatever was pending is sent by the next run.
func (h *Hub) RunDeliveries(ctx context.Context, post Poster, link ChatLinker) {
	for {
		next := h.deliverDue(ctx, post, link)
		var t Timer
		if !next.IsZero() {
			wait := next.Sub(h.clock.Now())
			if wait <= 0 {
				continue // came due while we were sending
			}
			t = h.clock.AfterFunc(wait, h.wakeDeliveries)
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-h.deliveryWake:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// deliverDue sends every due delivery, a few at a time, and returns when
// the next pending one is due (zero: none).
func (h *Hub) deliverDue(ctx context.Context, post Poster, link ChatLinker) time.Time {
	for ctx.Err() == nil {
		due, err := h.store.DueDeliveries(ctx, h.clock.Now(), 32)
		if err != nil {
			h.log.Error("webhook deliveries", "err", err)
			return h.clock.Now().Add(retryFirst)
		}
		if len(due) == 0 {
			break
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for _, d := range due {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				h.attempt(ctx, post, link, d)
			}()
		}
		wg.Wait()
	}
	next, ok, err := h.store.NextDeliveryAt(ctx)
	if err != nil || !ok {
		return time.Time{}
	}
	return next
}

// attempt sends one delivery once and records the outcome. 2xx is done;
// 5xx, 429 and network errors are tried again later; anything else fails.
func (h *Hub) attempt(ctx context.Context, post Poster, link ChatLinker, d DueDelivery) {
	body := []byte(d.Payload)
	if d.Event == EventChatSynced && link != nil {
		// The link is made when sent, so a retried delivery's link is fresh.
		var p chatSyncedPayload
		if json.Unmarshal(body, &p) == nil {
			p.ChatDownloadURL, p.ChatDownloadURLExpiry = link(p.SessionID)
			body, _ = json.Marshal(p)
		}
	}
	now := h.clock.Now()
	ts := now.Unix()
	header := map[string]string{
		"Content-Type":      "application/json",
		"webhook-id":        d.ID,
		"webhook-timestamp": strconv.FormatInt(ts, 10),
		"webhook-signature": Sign(d.Secret, d.ID, ts, body),
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	status, err := post.Post(pctx, d.URL, header, body)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: it stays pending and is sent next run
	}
	d.Attempts++
	d.LastStatus, d.LastError = status, ""
	d.UpdatedAt = At(h.clock.Now())
	retry := false
	switch {
	case err != nil:
		d.LastError, retry = err.Error(), true
	case status >= 200 && status < 300:
		d.Status, d.NextAttemptAt = DeliveryDelivered, nil
	case status >= 500 || status == 429:
		d.LastError, retry = "HTTP "+strconv.Itoa(status), true
	default:
		d.Status, d.NextAttemptAt, d.LastError = DeliveryFailed, nil, "HTTP "+strconv.Itoa(status)+": not retried"
	}
	if retry {
		if now.Sub(d.CreatedAt.Time) >= retryWindow {
			d.Status, d.NextAttemptAt = DeliveryFailed, nil
		} else {
			next := At(now.Add(backoff(d.Attempts)))
			d.NextAttemptAt = &next
		}
	}
	err = h.store.Update(context.Background(), func(tx Tx) error { return tx.UpdateDelivery(context.Background(), d.Delivery) })
	if err != nil {
		h.log.Error("record webhook attempt", "delivery", d.ID, "err", err)
	}
	h.log.Info("webhook attempt", "delivery", d.ID, "event", d.Event, "status", d.Status, "http", status, "attempts", d.Attempts)
}

// backoff is the wait before attempt n+1: doubling from retryFirst up to
// retryMax, plus up to 10% jitter so many failed deliveries don't retry
// in lockstep.
func backoff(attempts int) time.Duration {
	d := retryFirst << min(attempts-1, 20)
	if d > retryMax || d <= 0 {
		d = retryMax
	}
	j, _ := rand.Int(rand.Reader, big.NewInt(int64(d/10)+1))
	return d + time.Duration(j.Int64())
}
