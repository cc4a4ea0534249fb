package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"parley/chat"
)

const webhookCols = `id, name, url, events, secret, enabled, created_at, updated_at`

func scanWebhook(r rowScanner) (chat.Webhook, error) {
	var w chat.Webhook
	var events string
	var created, updated int64
	if err := r.Scan(&w.ID, &w.Name, &w.URL, &events, &w.Secret, &w.Enabled, &created, &updated); err != nil {
		return w, err
	}
	w.CreatedAt, w.UpdatedAt = chat.FromMillis(created), chat.FromMillis(updated)
	return w, json.Unmarshal([]byte(events), &w.Events)
}

func (q queries) Webhook(ctx context.Context, id string) (chat.Webhook, error) {
	w, err := scanWebhook(q.q.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	return w, wrap("webhook", err)
}

func (q queries) ListWebhooks(ctx context.Context) ([]chat.Webhook, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list webhooks", err)
	}
	out, err := collect(rows, scanWebhook)
	return out, wrap("list webhooks", err)
}

const deliveryCols = `d.id, d.webhook_id, d.event, d.payload, d.status, d.attempts, d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at`

func scanDelivery(r rowScanner, extra ...any) (chat.Delivery, error) {
	var d chat.Delivery
	var next sql.NullInt64
	var created, updated int64
	var payload []byte
	dest := append([]any{&d.ID, &d.WebhookID, &d.Event, &payload, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError, &next, &created, &updated}, extra...)
	if err := r.Scan(dest...); err != nil {
		return d, err
	}
	d.Payload = payload
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = nullMillis(next), chat.FromMillis(created), chat.FromMillis(updated)
	return d, nil
}

func (q queries) Deliveries(ctx context.Context, webhookID string, limit int) ([]chat.Delivery, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries d WHERE d.webhook_id = ? ORDER BY d.created_at DESC, d.id LIMIT ?`, webhookID, limit)
	if err != nil {
		return nil, wrap("deliveries", err)
	}
	out, err := collect(rows, func(r rowScanner) (chat.Delivery, error) { return scanDelivery(r) })
	return out, wrap("deliveries", err)
}

func (q queries) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]chat.DueDelivery, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+deliveryCols+`, w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, wrap("due deliveries", err)
	}
	out, err := collect(rows, func(r rowScanner) (chat.DueDelivery, error) {
		var dd chat.DueDelivery
		d, err := scanDelivery(r, &dd.URL, &dd.Secret)
		dd.Delivery = d
		return dd, err
	})
	return out, wrap("due deliveries", err)
}

func (q queries) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := q.q.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, wrap("next delivery", err)
	}
	return time.UnixMilli(next.Int64), true, nil
}

func (q *writeTx) InsertWebhook(ctx context.Context, w chat.Webhook) error {
	events, _ := json.Marshal(w.Events)
	_, err := q.q.ExecContext(ctx, `INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Name, w.URL, string(events), w.Secret, w.Enabled, ms(w.CreatedAt.Time), ms(w.UpdatedAt.Time))
	return wrap("insert webhook", err)
}

func (q *writeTx) UpdateWebhook(ctx context.Context, w chat.Webhook) error {
	events, _ := json.Marshal(w.Events)
	_, err := q.q.ExecContext(ctx, `UPDATE webhooks SET name = ?, url = ?, events = ?, enabled = ?, updated_at = ? WHERE id = ?`,
		w.Name, w.URL, string(events), w.Enabled, ms(w.UpdatedAt.Time), w.ID)
	return wrap("update webhook", err)
}

func (q *writeTx) DeleteWebhook(ctx context.Context, id string) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id); err != nil {
		return wrap("delete webhook deliveries", err)
	}
	_, err := q.q.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	return wrap("delete webhook", err)
}

func nullTime(t *chat.Time) any {
	if t == nil {
		return nil
	}
	return ms(t.Time)
}

func (q *writeTx) InsertDelivery(ctx context.Context, d chat.Delivery) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.WebhookID, d.Event, []byte(d.Payload), d.Status, nullTime(d.NextAttemptAt), ms(d.CreatedAt.Time), ms(d.UpdatedAt.Time))
	return wrap("insert delivery", err)
}

func (q *writeTx) UpdateDelivery(ctx context.Context, d chat.Delivery) error {
	_, err := q.q.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
		d.Status, d.Attempts, d.LastStatus, d.LastError, nullTime(d.NextAttemptAt), ms(d.UpdatedAt.Time), d.ID)
	return wrap("update delivery", err)
}
