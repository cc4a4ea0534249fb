package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MeetingInput creates a meeting.
type MeetingInput struct {
	Title       string  `json:"title"`
	PersistChat *bool   `json:"persist_chat"`
	Status      *string `json:"status"`
}

// MeetingPatch changes a meeting; absent fields stay as they are.
type MeetingPatch struct {
	Title       *string        `json:"title"`
	Status      *string        `json:"status"`
	PersistChat *bool          `json:"persist_chat"`
	Picture     *string        `json:"picture"`
	Metadata    map[string]any `json:"metadata"`
}

// ParticipantInput adds a participant to a meeting.
type ParticipantInput struct {
	Name                string `json:"name"`
	PresetName          string `json:"preset_name"`
	CustomParticipantID string `json:"custom_participant_id"`
	Picture             string `json:"picture"`
}

// ParticipantPatch changes a participant; absent fields stay as they are.
type ParticipantPatch struct {
	Name       *string `json:"name"`
	Picture    *string `json:"picture"`
	PresetName *string `json:"preset_name"`
}

// PresetPatch changes a custom preset's permissions.
type PresetPatch struct {
	Chat *ChatPerms `json:"chat"`
}

// CreateMeeting makes a new meeting.
func (h *Hub) CreateMeeting(ctx context.Context, in MeetingInput) (Meeting, error) {
	now := At(h.clock.Now())
	m := Meeting{ID: NewID(), Title: in.Title, Status: StatusActive, PersistChat: true, CreatedAt: now, UpdatedAt: now}
	if in.PersistChat != nil {
		m.PersistChat = *in.PersistChat
	}
	if in.Status != nil {
		m.Status = *in.Status
	}
	if err := validMeeting(m); err != nil {
		return Meeting{}, err
	}
	err := h.store.Update(ctx, func(tx Tx) error { return tx.InsertMeeting(ctx, m) })
	return m, err
}

func validMeeting(m Meeting) error {
	if err := checkName("title", m.Title, 200); err != nil {
		return err
	}
	if m.Status != StatusActive && m.Status != StatusInactive {
		return errorf(ErrInvalid, "invalid_request", "status must be ACTIVE or INACTIVE")
	}
	if len(m.Picture) > 2048 {
		return errorf(ErrInvalid, "invalid_request", "picture URL is longer than 2048 bytes")
	}
	return nil
}

func checkName(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return errorf(ErrInvalid, "invalid_request", "%s is required", field)
	}
	if utf8.RuneCountInString(s) > max {
		return errorf(ErrInvalid, "invalid_request", "%s is longer than %d characters", field, max)
	}
	return nil
}

// Meeting returns one meeting.
func (h *Hub) Meeting(ctx context.Context, id string) (Meeting, error) {
	return h.store.Meeting(ctx, id)
}

// ListMeetings returns a page of meetings and how many there are.
func (h *Hub) ListMeetings(ctx context.Context, p Page) ([]Meeting, int, error) {
	return h.store.ListMeetings(ctx, p)
}

// UpdateMeeting changes a meeting. Making it INACTIVE ends its session and
// closes its connections: an inactive meeting refuses joins.
func (h *Hub) UpdateMeeting(ctx context.Context, id string, in MeetingPatch) (Meeting, error) {
	var out Meeting
	err := h.store.Update(ctx, func(tx Tx) error {
		m, err := tx.Meeting(ctx, id)
		if err != nil {
			return err
		}
		if in.Title != nil {
			m.Title = *in.Title
		}
		if in.Status != nil {
			m.Status = *in.Status
		}
		if in.PersistChat != nil {
			m.PersistChat = *in.PersistChat
		}
		if in.Picture != nil {
			m.Picture = *in.Picture
		}
		if in.Metadata != nil {
			if err := h.checkMetadata(in.Metadata); err != nil {
				return err
			}
			m.Metadata = in.Metadata
		}
		if err := validMeeting(m); err != nil {
			return err
		}
		m.UpdatedAt = At(h.clock.Now())
		out = m
		ev := encodeEvent("meeting.updated", m)
		tx.AfterCommit(func() { h.deliver(id, 0, nil, ev) })
		return tx.UpdateMeeting(ctx, m)
	})
	if err != nil {
		return Meeting{}, err
	}
	if out.Status == StatusInactive {
		if r := h.lookupRoom(id); r != nil {
			r.life.Lock()
			if r.endTimer != nil {
				r.endTimer.Stop()
				r.endTimer = nil
			}
			h.endSession(r, "MEETING_INACTIVE") // tells everyone connected: session.ended
			r.life.Unlock()
		}
		for _, c := range h.clientsOf(id, "") {
			c.Close(CloseRemoved, "meeting is inactive")
		}
	}
	return out, nil
}

// newToken returns a random participant token: 256 bits, URL-safe.
func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// AddParticipant adds a participant to a meeting and issues its token.
func (h *Hub) AddParticipant(ctx context.Context, meetingID string, in ParticipantInput) (Participant, error) {
	if err := checkName("name", in.Name, 100); err != nil {
		return Participant{}, err
	}
	if err := checkName("custom_participant_id", in.CustomParticipantID, 200); err != nil {
		return Participant{}, err
	}
	if in.PresetName == "" {
		return Participant{}, errorf(ErrInvalid, "invalid_request", "preset_name is required")
	}
	now := h.clock.Now()
	p := Participant{
		ID: NewID(), MeetingID: meetingID, CustomParticipantID: in.CustomParticipantID,
		Name: in.Name, Picture: in.Picture, PresetName: in.PresetName,
		CreatedAt: At(now), UpdatedAt: At(now), TokenExpiresAt: At(now.Add(h.cfg.TokenTTL)),
		Token: newToken(),
	}
	err := h.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Meeting(ctx, meetingID); err != nil {
			return err
		}
		if err := presetExists(ctx, tx, in.PresetName); err != nil {
			return err
		}
		return tx.InsertParticipant(ctx, p, HashToken(p.Token))
	})
	if err != nil {
		return Participant{}, err
	}
	return p, nil
}

func presetExists(ctx context.Context, r Reader, name string) error {
	_, err := r.Preset(ctx, name)
	if isNotFound(err) {
		return errorf(ErrInvalid, "invalid_request", "no preset named %q", name)
	}
	return err
}

// Participant returns a participant of a meeting.
func (h *Hub) Participant(ctx context.Context, meetingID, id string) (Participant, error) {
	return participantOf(ctx, h.store, meetingID, id)
}

func participantOf(ctx context.Context, r Reader, meetingID, id string) (Participant, error) {
	p, err := r.Participant(ctx, id)
	if err == nil && p.MeetingID != meetingID {
		err = ErrNotFound
	}
	return p, err
}

// ListParticipants returns a page of a meeting's participants.
func (h *Hub) ListParticipants(ctx context.Context, meetingID string, p Page) ([]Participant, int, error) {
	if _, err := h.store.Meeting(ctx, meetingID); err != nil {
		return nil, 0, err
	}
	return h.store.ListParticipants(ctx, meetingID, p)
}

// UpdateParticipant changes a participant; its live connections see the
// new name and preset at once.
func (h *Hub) UpdateParticipant(ctx context.Context, meetingID, id string, in ParticipantPatch) (Participant, error) {
	var out Participant
	err := h.store.Update(ctx, func(tx Tx) error {
		p, err := participantOf(ctx, tx, meetingID, id)
		if err != nil {
			return err
		}
		if in.Name != nil {
			if err := checkName("name", *in.Name, 100); err != nil {
				return err
			}
			p.Name = *in.Name
		}
		if in.Picture != nil {
			p.Picture = *in.Picture
		}
		if in.PresetName != nil {
			if err := presetExists(ctx, tx, *in.PresetName); err != nil {
				return err
			}
			p.PresetName = *in.PresetName
		}
		p.UpdatedAt = At(h.clock.Now())
		out = p
		return tx.UpdateParticipant(ctx, p)
	})
	if err != nil {
		return Participant{}, err
	}
	for _, c := range h.clientsOf(meetingID, id) {
		c.mu.Lock()
		c.participant = out
		c.mu.Unlock()
	}
	return out, nil
}

// DeleteParticipant removes a participant and disconnects it (4003). Its
// messages stay.
func (h *Hub) DeleteParticipant(ctx context.Context, meetingID, id string) error {
	err := h.store.Update(ctx, func(tx Tx) error {
		if _, err := participantOf(ctx, tx, meetingID, id); err != nil {
			return err
		}
		return tx.DeleteParticipant(ctx, id, h.clock.Now())
	})
	if err != nil {
		return err
	}
	for _, c := range h.clientsOf(meetingID, id) {
		c.Close(CloseRemoved, "removed from meeting")
	}
	h.mu.Lock()
	delete(h.buckets, id) // nothing of a removed participant stays in memory
	h.mu.Unlock()
	return nil
}

// RefreshToken issues a participant a new token; the old one stops working
// and connections made with it are closed (4001) so they authenticate again.
func (h *Hub) RefreshToken(ctx context.Context, meetingID, id string) (string, error) {
	token := newToken()
	err := h.store.Update(ctx, func(tx Tx) error {
		if _, err := participantOf(ctx, tx, meetingID, id); err != nil {
			return err
		}
		return tx.SetParticipantToken(ctx, id, HashToken(token), h.clock.Now().Add(h.cfg.TokenTTL))
	})
	if err != nil {
		return "", err
	}
	for _, c := range h.clientsOf(meetingID, id) {
		c.Close(CloseAuthFailed, "token replaced")
	}
	return token, nil
}

var presetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Presets lists every preset.
func (h *Hub) Presets(ctx context.Context) ([]Preset, error) { return h.store.ListPresets(ctx) }

// Preset returns one preset.
func (h *Hub) Preset(ctx context.Context, name string) (Preset, error) {
	return h.store.Preset(ctx, name)
}

// CreatePreset adds a custom preset.
func (h *Hub) CreatePreset(ctx context.Context, p Preset) (Preset, error) {
	if !presetName.MatchString(p.Name) {
		return Preset{}, errorf(ErrInvalid, "invalid_request", "name must be 1-64 of a-z, 0-9, _ . - and start with a letter or digit")
	}
	p.BuiltIn = false
	err := h.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Preset(ctx, p.Name); err == nil {
			return errorf(ErrConflict, "conflict", "a preset named %q exists", p.Name)
		} else if !isNotFound(err) {
			return err
		}
		return tx.InsertPreset(ctx, p, h.clock.Now())
	})
	return p, err
}

// UpdatePreset changes a custom preset; built-in presets are fixed.
func (h *Hub) UpdatePreset(ctx context.Context, name string, in PresetPatch) (Preset, error) {
	var out Preset
	err := h.store.Update(ctx, func(tx Tx) error {
		p, err := tx.Preset(ctx, name)
		if err != nil {
			return err
		}
		if p.BuiltIn {
			return errorf(ErrForbidden, "forbidden", "built-in presets can't be changed; create a custom one")
		}
		if in.Chat != nil {
			p.Chat = *in.Chat
		}
		out = p
		return tx.UpdatePreset(ctx, p, h.clock.Now())
	})
	return out, err
}

// DeletePreset removes a custom preset no participant uses.
func (h *Hub) DeletePreset(ctx context.Context, name string) error {
	return h.store.Update(ctx, func(tx Tx) error {
		p, err := tx.Preset(ctx, name)
		if err != nil {
			return err
		}
		if p.BuiltIn {
			return errorf(ErrForbidden, "forbidden", "built-in presets can't be deleted")
		}
		used, err := tx.PresetInUse(ctx, name)
		if err != nil {
			return err
		}
		if used {
			return errorf(ErrConflict, "conflict", "participants still use preset %q", name)
		}
		return tx.DeletePreset(ctx, name)
	})
}

// Session returns one session.
func (h *Hub) Session(ctx context.Context, id string) (Session, error) {
	return h.store.Session(ctx, id)
}

// ListSessions returns a page of sessions.
func (h *Hub) ListSessions(ctx context.Context, f SessionFilter, p Page) ([]Session, int, error) {
	if f.Status != "" && f.Status != SessionLive && f.Status != SessionEnded {
		return nil, 0, errorf(ErrInvalid, "invalid_request", "status must be LIVE or ENDED")
	}
	return h.store.ListSessions(ctx, f, p)
}

// SessionParticipants lists who joined a session.
func (h *Hub) SessionParticipants(ctx context.Context, id string) ([]SessionParticipant, error) {
	if _, err := h.store.Session(ctx, id); err != nil {
		return nil, err
	}
	return h.store.SessionParticipants(ctx, id)
}
