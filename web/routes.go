package web

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"parley/chat"
)

// addRoutes lists every route parley serves.
func addRoutes(r *httprouter.Router, s *Server, assets fs.FS) {
	admin := s.requireAdmin

	r.Handler(http.MethodGet, "/healthz", handleHealthz())

	r.Handler(http.MethodPost, "/v2/meetings", admin(s.handleCreateMeeting()))
	r.Handler(http.MethodGet, "/v2/meetings", admin(s.handleListMeetings()))
	r.Handler(http.MethodGet, "/v2/meetings/:meeting_id", admin(s.handleGetMeeting()))
	r.Handler(http.MethodPatch, "/v2/meetings/:meeting_id", admin(s.handleUpdateMeeting()))
	r.Handler(http.MethodPost, "/v2/meetings/:meeting_id/participants", admin(s.handleAddParticipant()))
	r.Handler(http.MethodGet, "/v2/meetings/:meeting_id/participants", admin(s.handleListParticipants()))
	r.Handler(http.MethodGet, "/v2/meetings/:meeting_id/participants/:participant_id", admin(s.handleGetParticipant()))
	r.Handler(http.MethodPatch, "/v2/meetings/:meeting_id/participants/:participant_id", admin(s.handleUpdateParticipant()))
	r.Handler(http.MethodDelete, "/v2/meetings/:meeting_id/participants/:participant_id", admin(s.handleDeleteParticipant()))
	r.Handler(http.MethodPost, "/v2/meetings/:meeting_id/participants/:participant_id/token", admin(s.handleRefreshToken()))

	r.Handler(http.MethodGet, "/v2/presets", admin(s.handleListPresets()))
	r.Handler(http.MethodPost, "/v2/presets", admin(s.handleCreatePreset()))
	r.Handler(http.MethodGet, "/v2/presets/:preset_name", admin(s.handleGetPreset()))
	r.Handler(http.MethodPatch, "/v2/presets/:preset_name", admin(s.handleUpdatePreset()))
	r.Handler(http.MethodDelete, "/v2/presets/:preset_name", admin(s.handleDeletePreset()))

	r.Handler(http.MethodGet, "/v2/sessions", admin(s.handleListSessions()))
	r.Handler(http.MethodGet, "/v2/sessions/:session_id", admin(s.handleGetSession()))
	r.Handler(http.MethodGet, "/v2/sessions/:session_id/participants", admin(s.handleSessionParticipants()))
	r.Handler(http.MethodGet, "/v2/sessions/:session_id/chat", admin(s.handleSessionChat()))
	r.Handler(http.MethodGet, "/export/:session_id/chat.csv", s.handleExport())

	r.Handler(http.MethodPost, "/v2/webhooks", admin(s.handleCreateWebhook()))
	r.Handler(http.MethodGet, "/v2/webhooks", admin(s.handleListWebhooks()))
	r.Handler(http.MethodGet, "/v2/webhooks/:webhook_id", admin(s.handleGetWebhook()))
	r.Handler(http.MethodPatch, "/v2/webhooks/:webhook_id", admin(s.handleUpdateWebhook()))
	r.Handler(http.MethodDelete, "/v2/webhooks/:webhook_id", admin(s.handleDeleteWebhook()))
	r.Handler(http.MethodGet, "/v2/webhooks/:webhook_id/deliveries", admin(s.handleDeliveries()))

	r.Handler(http.MethodGet, "/v2/realtime", s.handleRealtime())
	r.Handler(http.MethodPost, "/v2/uploads", s.handleUpload())
	r.Handler(http.MethodPost, "/api/chat", s.handleChatAction())
	r.Handler(http.MethodGet, "/api/chat/:chatId/messages", s.handleChatPage())
	r.Handler(http.MethodGet, "/files/:file_id/:name", s.handleFile())

	r.Handler(http.MethodGet, "/", handlePage(assets, "index.html"))
	r.Handler(http.MethodGet, "/admin", handlePage(assets, "admin.html"))
	r.Handler(http.MethodGet, "/sdk/parley.js", handleStatic(assets, "sdk/parley.js"))
	r.Handler(http.MethodGet, "/static/*filepath", s.handleAssets(assets))
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeData(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleStatic serves one embedded file.
func handleStatic(assets fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, name)
	})
}

// pagePolicy lets parley's pages load only their own scripts and styles;
// images may come from anywhere the server's links point.
const pagePolicy = "default-src 'self'; img-src 'self' data: blob: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// handlePage serves an HTML page with a strict content security policy.
func handlePage(assets fs.FS, name string) http.Handler {
	static := handleStatic(assets, name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pagePolicy)
		w.Header().Set("Referrer-Policy", "no-referrer")
		static.ServeHTTP(w, r)
	})
}

// handleAssets serves the client's scripts and styles.
func (s *Server) handleAssets(assets fs.FS) http.Handler {
	files := http.StripPrefix("/static/", http.FileServer(http.FS(assets)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			writeError(w, s.log, chat.ErrNotFound) // no directory listings
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// realtimeOps lists every operation of the realtime protocol (SPEC §4).
var realtimeOps = map[string]opFunc{
	"chat.send":      op((*chat.Client).Send),
	"chat.edit":      op((*chat.Client).Edit),
	"chat.delete":    op((*chat.Client).Delete),
	"chat.pin":       op((*chat.Client).Pin),
	"chat.unpin":     op((*chat.Client).Unpin),
	"chat.history":   op((*chat.Client).History),
	"chat.react":     op((*chat.Client).React),
	"chat.unreact":   op((*chat.Client).Unreact),
	"chat.read":      op((*chat.Client).MarkRead),
	"chat.typing":    op((*chat.Client).Typing),
	"chat.page":      op((*chat.Client).Page),
	"chat.search":    op((*chat.Client).Search),
	"meeting.update": op((*chat.Client).UpdateMeeting),
	"ping":           op(ping),
}
