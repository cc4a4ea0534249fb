package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"parley/chat"
)

// envelope is the shape of every JSON answer of the HTTP API.
type envelope struct {
	Success bool       `json:"success"`
	Data    any        `json:"data,omitempty"`
	Paging  *paging    `json:"paging,omitempty"`
	Error   *errorBody `json:"error,omitempty"`
}

type paging struct {
	TotalCount  int `json:"total_count"`
	StartOffset int `json:"start_offset"`
	EndOffset   int `json:"end_offset"`
}

type errorBody struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeData(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, envelope{Success: true, Data: data})
}

func writeList[T any](w http.ResponseWriter, items []T, total int, p chat.Page) {
	pg := &paging{TotalCount: total, StartOffset: p.Offset(), EndOffset: p.Offset() + len(items)}
	writeJSON(w, http.StatusOK, envelope{Success: true, Data: items, Paging: pg})
}

// problem is the one place an error becomes a status, a code and a
// message, for HTTP answers and socket replies alike. Errors that are not
// the client's are logged and shown only as "internal error".
func problem(log *slog.Logger, err error) (int, errorBody) {
	var ce *chat.Error
	code, msg := "", err.Error()
	var retry int64
	if errors.As(err, &ce) {
		code, msg = ce.Code, ce.Msg
		retry = ce.RetryAfter.Milliseconds()
	}
	status := http.StatusInternalServerError
	def := "internal"
	switch {
	case errors.Is(err, chat.ErrInvalid):
		status, def = http.StatusBadRequest, "invalid_request"
	case errors.Is(err, chat.ErrUnauthorized):
		status, def = http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, chat.ErrForbidden):
		status, def = http.StatusForbidden, "forbidden"
	case errors.Is(err, chat.ErrNotFound):
		status, def = http.StatusNotFound, "not_found"
	case errors.Is(err, chat.ErrConflict):
		status, def = http.StatusConflict, "conflict"
	case errors.Is(err, chat.ErrTooLarge):
		status, def = http.StatusRequestEntityTooLarge, "payload_too_large"
	case errors.Is(err, chat.ErrRateLimited):
		status, def = http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, errUnsupportedMedia):
		status, def = http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.Is(err, chat.ErrInsufficientStorage):
		status, def = http.StatusInsufficientStorage, "insufficient_storage"
	case errors.Is(err, chat.ErrClosed):
		status, def, msg = http.StatusServiceUnavailable, "unavailable", "server is shutting down"
	}
	if code == "" {
		code = def
	}
	if status == http.StatusNotFound && ce == nil {
		msg = "not found"
	}
	if status == http.StatusInternalServerError {
		log.Error("internal error", "err", err)
		msg = "internal error"
	}
	return status, errorBody{Code: code, Message: msg, RetryAfterMS: retry}
}

func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	status, body := problem(log, err)
	if body.RetryAfterMS > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt((body.RetryAfterMS+999)/1000, 10))
	}
	writeJSON(w, status, envelope{Error: &body})
}

// invalid builds a client error of kind chat.ErrInvalid.
func invalid(format string, args ...any) error {
	return &chat.Error{Kind: chat.ErrInvalid, Code: "invalid_request", Msg: fmt.Sprintf(format, args...)}
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data: a typo in a field name is an error, not a
// silently ignored option.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("malformed JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("malformed JSON: trailing data after the object")
	}
	return nil
}

// jsonProblem rewords encoding/json errors without Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
		}
		return "expected a JSON object"
	}
	return err.Error()
}

// maxBody bounds a JSON request body of the HTTP API.
const maxBody = 1 << 20

// readJSON decodes a request body strictly.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return invalid("could not read the body")
	}
	if len(body) > maxBody {
		return &chat.Error{Kind: chat.ErrTooLarge, Code: "payload_too_large", Msg: "the body is larger than 1 MiB"}
	}
	return decodeStrict(body, v)
}
