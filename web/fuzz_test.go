package web

import (
	"encoding/json"
	"errors"
	"testing"

	"parley/chat"
)

// FuzzDecodeFrame feeds arbitrary bytes to the strict decoder as a realtime
// frame and as every operation's data: it must never panic, must fail only
// with a client error, and what it accepts must encode and decode again.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"op":"auth","ref":"1","data":{"token":"t","resume":{"epoch":"e","seq":3}}}`,
		`{"op":"chat.send","ref":"2","data":{"type":"text","message":"hi","target_user_ids":["a"],"metadata":{"k":1}}}`,
		`{"op":"chat.history","ref":"3","data":{"before":123,"limit":5}}`,
		`{"op":"chat.history","data":{"after":"id"}}`,
		`{"op":"x"} {}`, `{"op":1}`, `[]`, `null`, ``, `{"data":{"a":`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(request) },
		func() any { return new(chat.SendRequest) },
		func() any { return new(chat.EditRequest) },
		func() any { return new(chat.IDRequest) },
		func() any { return new(chat.HistoryRequest) },
		func() any { return new(chat.MeetingInput) },
		func() any { return new(chat.ParticipantInput) },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mk := range targets {
			v := mk()
			err := decodeStrict(b, v)
			if err != nil {
				if !errors.Is(err, chat.ErrInvalid) {
					t.Fatalf("decode error of the wrong kind: %v", err)
				}
				continue
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("accepted value does not encode: %v", err)
			}
			if err := decodeStrict(again, mk()); err != nil {
				t.Fatalf("re-encoded %s does not decode: %v", again, err)
			}
		}
	})
}
