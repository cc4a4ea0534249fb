package chat

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
)

// CSVHeader is the header row of a chat export, the Chat Replay dump format.
var CSVHeader = []string{"id", "participantId", "sessionId", "meetingId", "displayName", "pinned", "isEdited", "payloadType", "payload", "createdAt"}

// ExportReader is what an export reads: one session's messages in send order.
type ExportReader interface {
	Session(ctx context.Context, id string) (Session, error)
	// EachSessionMessage calls fn for every message of the session that is
	// not deleted, private ones included, in commit order, reading rows as
	// it goes so memory doesn't grow with the session.
	EachSessionMessage(ctx context.Context, sessionID string, fn func(Message) error) error
}

// WriteCSV writes a session's chat as RFC 4180 CSV (UTF-8, CRLF). With
// spreadsheetSafe, cells a spreadsheet would run as a formula are prefixed
// with a quote; without it every value is exactly as sent.
func WriteCSV(ctx context.Context, r ExportReader, sessionID string, w io.Writer, spreadsheetSafe bool) error {
	if _, err := r.Session(ctx, sessionID); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	n := 0
	err := r.EachSessionMessage(ctx, sessionID, func(m Message) error {
		row := []string{m.ID, m.UserID, m.SessionID, m.MeetingID, m.DisplayName,
			strconv.FormatBool(m.Pinned), strconv.FormatBool(m.IsEdited), payloadType(m.Type), payload(m), m.Time.String()}
		if spreadsheetSafe {
			for i, v := range row {
				row[i] = neutralise(v)
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		if n++; n%256 == 0 {
			cw.Flush() // hand rows to the client as they come
			return cw.Error()
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func payloadType(t string) string {
	switch t {
	case TypeImage:
		return "IMAGE_MESSAGE"
	case TypeFile:
		return "FILE_MESSAGE"
	}
	return "TEXT_MESSAGE"
}

func payload(m Message) string {
	switch m.Type {
	case TypeImage:
		return m.Link
	case TypeFile:
		b, _ := json.Marshal(struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
			Link string `json:"link"`
		}{m.Name, m.Size, m.Link})
		return string(b)
	}
	return m.Message
}

// neutralise keeps a spreadsheet from reading a cell as a formula (OWASP
// CSV injection): cells starting with = + - @ tab or CR get a leading quote.
func neutralise(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
		return "'" + v
	}
	return v
}

// ExportCSV writes a session's chat; see WriteCSV.
func (h *Hub) ExportCSV(ctx context.Context, sessionID string, w io.Writer, spreadsheetSafe bool) error {
	return WriteCSV(ctx, h.store, sessionID, w, spreadsheetSafe)
}

// Now is the hub's time, for deadlines set outside it (link expiry).
func (h *Hub) Now() Time { return At(h.clock.Now()) }

// BaseURL is the absolute URL links start with.
func (h *Hub) BaseURL() string { return h.cfg.BaseURL }
