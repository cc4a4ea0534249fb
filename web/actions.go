package web

import (
	"context"
	"net/http"
	"strconv"

	"parley/chat"
)

// chatAction is the body of POST /api/chat (seeds/realtime-actions.txt).
type chatAction struct {
	Type       string  `json:"type"`
	ChatID     string  `json:"chatId"`
	Message    *string `json:"message"`
	MessageID  string  `json:"messageId"`
	Reaction   string  `json:"reaction"`
	ReactionID string  `json:"reactionId"`
}

// actionFields says which fields each action takes besides type and
// chatId; any other field is refused, like an unknown one.
var actionFields = map[string][]string{
	"SEND_MSG":     {"message"},
	"EDIT_MSG":     {"messageId", "message"},
	"DELETE_MSG":   {"messageId"},
	"REPLY":        {"messageId", "message"},
	"TYPING":       {},
	"REACT":        {"messageId", "reaction"},
	"DELETE_REACT": {"reactionId"},
	"READ_MSG":     {"messageId"},
}

func (a chatAction) check() error {
	want, ok := actionFields[a.Type]
	if !ok {
		return invalid("type must be one of SEND_MSG, EDIT_MSG, DELETE_MSG, REPLY, TYPING, REACT, DELETE_REACT, READ_MSG")
	}
	has := map[string]bool{"message": a.Message != nil, "messageId": a.MessageID != "", "reaction": a.Reaction != "", "reactionId": a.ReactionID != ""}
	for _, f := range want {
		if !has[f] {
			return invalid("%s needs %s", a.Type, f)
		}
		delete(has, f)
	}
	for f, set := range has {
		if set {
			return invalid("%s takes no %s", a.Type, f)
		}
	}
	return nil
}

// participantActor authenticates a participant request and checks that
// chatId is its meeting.
func (s *Server) participantActor(r *http.Request, chatID string) (*chat.Client, error) {
	p, err := s.hub.Authenticate(r.Context(), bearer(r))
	if err != nil {
		return nil, err
	}
	if chatID != p.MeetingID {
		return nil, &chat.Error{Kind: chat.ErrForbidden, Code: "forbidden", Msg: "chatId must be the meeting of your token"}
	}
	return s.hub.Actor(p), nil
}

// handleChatAction runs a realtime action over HTTP, through the same
// client operations as the socket: the same stored changes, the same events.
func (s *Server) handleChatAction() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		var a chatAction
		if err := readJSON(r, &a); err != nil {
			return 0, nil, err
		}
		if err := a.check(); err != nil {
			return 0, nil, err
		}
		c, err := s.participantActor(r, a.ChatID)
		if err != nil {
			return 0, nil, err
		}
		data, err := runAction(r.Context(), c, a)
		return http.StatusOK, data, err
	})
}

func runAction(ctx context.Context, c *chat.Client, a chatAction) (any, error) {
	text := ""
	if a.Message != nil {
		text = *a.Message
	}
	switch a.Type {
	case "SEND_MSG":
		return c.Send(ctx, chat.SendRequest{Type: chat.TypeText, Message: text})
	case "EDIT_MSG":
		return c.Edit(ctx, chat.EditRequest{ID: a.MessageID, Message: text})
	case "DELETE_MSG":
		return c.Delete(ctx, chat.IDRequest{ID: a.MessageID})
	case "REPLY":
		return c.Send(ctx, chat.SendRequest{Type: chat.TypeText, Message: text, ReplyTo: a.MessageID})
	case "TYPING":
		return c.Typing(ctx, chat.TypingRequest{Typing: true})
	case "REACT":
		return c.React(ctx, chat.ReactRequest{ID: a.MessageID, Reaction: a.Reaction})
	case "DELETE_REACT":
		return c.Unreact(ctx, chat.UnreactRequest{ReactionID: a.ReactionID})
	default: // READ_MSG; check() allows nothing else
		return c.MarkRead(ctx, chat.ReadRequest{ID: a.MessageID})
	}
}

// handleChatPage answers GET /api/chat/:chatId/messages?page=N.
func (s *Server) handleChatPage() http.Handler {
	return s.handle(func(r *http.Request) (int, any, error) {
		c, err := s.participantActor(r, param(r, "chatId"))
		if err != nil {
			return 0, nil, err
		}
		var req chat.PageRequest
		if v := r.URL.Query().Get("page"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, nil, invalid("page must be a whole number from 1")
			}
			req.Page = &n
		}
		res, err := c.Page(r.Context(), req)
		return http.StatusOK, res, err
	})
}
