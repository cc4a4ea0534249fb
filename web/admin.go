package web

import (
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"parley/chat"
)

func param(r *http.Request, name string) string {
	return httprouter.ParamsFromContext(r.Context()).ByName(name)
}

// pageOf reads page_no (from 1) and per_page (default 20, at most 100).
func pageOf(r *http.Request) (chat.Page, error) {
	p := chat.Page{PageNo: 1, PerPage: 20}
	q := r.URL.Query()
	if v := q.Get("page_no"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, invalid("page_no must be a whole number from 1")
		}
		p.PageNo = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, invalid("per_page must be a whole number from 1 to 100")
		}
		p.PerPage = n
	}
	return p, nil
}

// handle adapts a function that returns (status, data, error) to a handler.
func (s *Server) handle(f func(r *http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, data, err := f(r)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		writeData(w, status, data)
	})
}

// handleList adapts a paged listing to a handler.
func handleList[T any](s *Server, f func(r *http.Request, p chat.Page) ([]T, int, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := pageOf(r)
		if err == nil {
			var items []T
			var total int
			if items, total, err = f(r, p); err == nil {
				writeList(w, items, total, p)
				return
			}
		}
		writeError(w, s.log, err)
	})
}

func (s *Server) handleCreateMeeting() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.MeetingInput
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		m, err := s.hub.CreateMeeting(r.Context(), in)
		return http.StatusCreated, m, err
	})
}

func (s *Server) handleListMeetings() http.Handler {
	return handleList(s, func(r *http.Request, p chat.Page) ([]chat.Meeting, int, error) {
		return s.hub.ListMeetings(r.Context(), p)
	})
}

func (s *Server) handleGetMeeting() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		m, err := s.hub.Meeting(r.Context(), param(r, "meeting_id"))
		return http.StatusOK, m, err
	})
}

func (s *Server) handleUpdateMeeting() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.MeetingPatch
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		m, err := s.hub.UpdateMeeting(r.Context(), param(r, "meeting_id"), in)
		return http.StatusOK, m, err
	})
}

func (s *Server) handleAddParticipant() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.ParticipantInput
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		p, err := s.hub.AddParticipant(r.Context(), param(r, "meeting_id"), in)
		return http.StatusCreated, p, err
	})
}

func (s *Server) handleListParticipants() http.Handler {
	return handleList(s, func(r *http.Request, p chat.Page) ([]chat.Participant, int, error) {
		return s.hub.ListParticipants(r.Context(), param(r, "meeting_id"), p)
	})
}

func (s *Server) handleGetParticipant() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		p, err := s.hub.Participant(r.Context(), param(r, "meeting_id"), param(r, "participant_id"))
		return http.StatusOK, p, err
	})
}

func (s *Server) handleUpdateParticipant() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.ParticipantPatch
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		p, err := s.hub.UpdateParticipant(r.Context(), param(r, "meeting_id"), param(r, "participant_id"), in)
		return http.StatusOK, p, err
	})
}

func (s *Server) handleDeleteParticipant() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		id := param(r, "participant_id")
		err := s.hub.DeleteParticipant(r.Context(), param(r, "meeting_id"), id)
		return http.StatusOK, map[string]string{"id": id}, err
	})
}

func (s *Server) handleRefreshToken() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		tok, err := s.hub.RefreshToken(r.Context(), param(r, "meeting_id"), param(r, "participant_id"))
		return http.StatusOK, map[string]string{"token": tok}, err
	})
}

func (s *Server) handleListPresets() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		ps, err := s.hub.Presets(r.Context())
		return http.StatusOK, ps, err
	})
}

func (s *Server) handleCreatePreset() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in struct {
			Name string         `json:"name"`
			Chat chat.ChatPerms `json:"chat"`
		}
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		p, err := s.hub.CreatePreset(r.Context(), chat.Preset{Name: in.Name, Chat: in.Chat})
		return http.StatusCreated, p, err
	})
}

func (s *Server) handleGetPreset() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		p, err := s.hub.Preset(r.Context(), param(r, "preset_name"))
		return http.StatusOK, p, err
	})
}

func (s *Server) handleUpdatePreset() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var in chat.PresetPatch
		if err := readJSON(r, &in); err != nil {
			return 0, nil, err
		}
		p, err := s.hub.UpdatePreset(r.Context(), param(r, "preset_name"), in)
		return http.StatusOK, p, err
	})
}

func (s *Server) handleDeletePreset() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		name := param(r, "preset_name")
		return http.StatusOK, map[string]string{"name": name}, s.hub.DeletePreset(r.Context(), name)
	})
}

func (s *Server) handleListSessions() http.Handler {
	return handleList(s, func(r *http.Request, p chat.Page) ([]chat.Session, int, error) {
		q := r.URL.Query()
		return s.hub.ListSessions(r.Context(), chat.SessionFilter{MeetingID: q.Get("meeting_id"), Status: q.Get("status")}, p)
	})
}

func (s *Server) handleGetSession() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		ss, err := s.hub.Session(r.Context(), param(r, "session_id"))
		return http.StatusOK, ss, err
	})
}

func (s *Server) handleSessionParticipants() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		ps, err := s.hub.SessionParticipants(r.Context(), param(r, "session_id"))
		return http.StatusOK, ps, err
	})
}
