package chat

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Meeting status values.
const (
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
)

// Session status values.
const (
	SessionLive  = "LIVE"
	SessionEnded = "ENDED"
)

// Message types.
const (
	TypeText  = "text"
	TypeImage = "image"
	TypeFile  = "file"
)

// Meeting is a reusable room. Seq is the latest value of its change sequence.
type Meeting struct {
	ID          string         `json:"id"`
	Title       string         `json:"title"`
	Status      string         `json:"status"`
	PersistChat bool           `json:"persist_chat"`
	Picture     string         `json:"picture,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	CreatedAt   Time           `json:"created_at"`
	UpdatedAt   Time           `json:"updated_at"`
	Seq         int64          `json:"-"`
}

// Participant is a person in a meeting. Token is set only in the answers that
// issue one; the store keeps just its hash.
type Participant struct {
	ID                  string `json:"id"`
	MeetingID           string `json:"meeting_id"`
	CustomParticipantID string `json:"custom_participant_id"`
	Name                string `json:"name"`
	Picture             string `json:"picture,omitempty"`
	PresetName          string `json:"preset_name"`
	CreatedAt           Time   `json:"created_at"`
	UpdatedAt           Time   `json:"updated_at"`
	TokenExpiresAt      Time   `json:"token_expires_at"`
	Token               string `json:"token,omitempty"`
}

// Preset is a named role; its permissions decide what a participant may do.
type Preset struct {
	Name    string    `json:"name"`
	Chat    ChatPerms `json:"chat"`
	BuiltIn bool      `json:"built_in"`
}

// ChatPerms are a preset's chat permissions.
type ChatPerms struct {
	Public   PublicPerms  `json:"public"`
	Private  PrivatePerms `json:"private"`
	Moderate bool         `json:"moderate"`
}

// PublicPerms govern messages everyone in the meeting sees.
type PublicPerms struct {
	CanSend bool `json:"can_send"`
	Text    bool `json:"text"`
	Files   bool `json:"files"`
}

// PrivatePerms govern messages addressed to chosen participants.
type PrivatePerms struct {
	CanSend    bool `json:"can_send"`
	CanReceive bool `json:"can_receive"`
	Text       bool `json:"text"`
	Files      bool `json:"files"`
}

// BuiltInPresets are the roles every server has; they cannot be changed or removed.
func BuiltInPresets() []Preset {
	all := PublicPerms{CanSend: true, Text: true, Files: true}
	priv := PrivatePerms{CanSend: true, CanReceive: true, Text: true, Files: true}
	return []Preset{
		{Name: "host", BuiltIn: true, Chat: ChatPerms{Public: all, Private: priv, Moderate: true}},
		{Name: "participant", BuiltIn: true, Chat: ChatPerms{Public: all, Private: priv}},
		{Name: "viewer", BuiltIn: true, Chat: ChatPerms{Private: PrivatePerms{CanReceive: true}}},
	}
}

// Session is one live run of a meeting.
type Session struct {
	ID        string `json:"id"`
	MeetingID string `json:"meeting_id"`
	Status    string `json:"status"`
	StartedAt Time   `json:"started_at"`
	EndedAt   *Time  `json:"ended_at"`
}

// SessionParticipant records that a participant was in a session.
type SessionParticipant struct {
	ParticipantID       string `json:"participant_id"`
	CustomParticipantID string `json:"custom_participant_id"`
	Name                string `json:"name"`
	PresetName          string `json:"preset_name"`
	JoinedAt            Time   `json:"joined_at"`
	LeftAt              *Time  `json:"left_at"`
}

// Message is one chat message as clients see it (SPEC §5). Seq is the
// sequence number of the message's latest change.
type Message struct {
	ID            string         `json:"id"`
	Seq           int64          `json:"seq"`
	Type          string         `json:"type"`
	UserID        string         `json:"userId"`
	DisplayName   string         `json:"displayName"`
	Time          Time           `json:"time"`
	Message       string         `json:"message,omitempty"`
	IsEdited      bool           `json:"isEdited"`
	Pinned        bool           `json:"pinned"`
	TargetUserIDs []string       `json:"targetUserIds"`
	ReplyTo       *string        `json:"replyTo"`
	Reactions     []Reaction     `json:"reactions"`
	Metadata      map[string]any `json:"metadata"`
	Read          bool           `json:"read"`
	SessionID     string         `json:"sessionId"`
	MeetingID     string         `json:"meetingId"`

	// Image and file messages (SPEC §5).
	Link      string `json:"link,omitempty"`
	Thumbnail string `json:"thumbnail,omitempty"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	Name      string `json:"name,omitempty"`
	Size      int64  `json:"size,omitempty"`
	UploadID  string `json:"-"`

	// CreatedSeq orders messages by when they were committed.
	CreatedSeq int64  `json:"-"`
	ClientID   string `json:"-"`
}

// Reaction is one participant's reaction to a message.
type Reaction struct {
	ReactionID string `json:"reactionId"`
	UserID     string `json:"userId"`
	Reaction   string `json:"reaction"`
}

// Private reports whether the message is addressed to chosen participants.
func (m *Message) Private() bool { return len(m.TargetUserIDs) > 0 }

// VisibleTo reports whether participant id may see the message.
func (m *Message) VisibleTo(id string) bool {
	if !m.Private() || m.UserID == id {
		return true
	}
	for _, t := range m.TargetUserIDs {
		if t == id {
			return true
		}
	}
	return false
}

// audience is who may receive the message's events: nil means everyone.
func (m *Message) audience() []string {
	if !m.Private() {
		return nil
	}
	return append([]string{m.UserID}, m.TargetUserIDs...)
}

// Change is one entry of a meeting's change log: the event frame as it was
// sent, and who may receive it (nil Audience: everyone). Resume replays these.
type Change struct {
	MeetingID string
	Seq       int64
	MessageID string
	Event     string
	Audience  []string
	Frame     []byte
}

// Page selects a slice of a list: PageNo from 1, PerPage items each.
type Page struct {
	PageNo  int
	PerPage int
}

// Offset is the number of items before the page.
func (p Page) Offset() int { return (p.PageNo - 1) * p.PerPage }

// SessionFilter narrows a session listing.
type SessionFilter struct {
	MeetingID string
	Status    string
}

// HistoryQuery selects messages a viewer may see, in commit order.
type HistoryQuery struct {
	MeetingID string
	ViewerID  string
	SessionID string // only this session's messages, when the meeting doesn't persist chat

	// At most one of BeforeSeq/AfterSeq/BeforeTime/AfterTime is set.
	BeforeSeq, AfterSeq   int64
	BeforeTime, AfterTime time.Time

	Limit         int
	Offset        int
	WithUserID    string // private thread between viewer and this participant
	ExcludeUserID string
	Pinned        bool
	UserID        string
	Type          string
}

// NewID returns a random UUID (version 4), the form of every id parley makes.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
