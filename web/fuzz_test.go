package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
	"time"

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

// memBlobs is chat.Blobs in memory, for fuzzing.
type memBlobs struct{ m map[string][]byte }

type memWriter struct {
	bytes.Buffer
	b  *memBlobs
	id string
}

func (w *memWriter) Commit() error { w.b.m[w.id] = w.Bytes(); return nil }
func (w *memWriter) Abort()        {}

type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error               { return nil }
func (memBlob) ModTime() time.Time         { return time.Time{} }
func (b memBlob) Size() int64              { return b.Reader.Size() }
func (b *memBlobs) Remove(id string) error { delete(b.m, id); return nil }
func (b *memBlobs) Create(id string) (chat.BlobWriter, error) {
	return &memWriter{b: b, id: id}, nil
}
func (b *memBlobs) Open(id string) (chat.Blob, error) {
	d, ok := b.m[id]
	if !ok {
		return nil, chat.ErrNotFound
	}
	return memBlob{bytes.NewReader(d)}, nil
}

// FuzzInspectImage feeds arbitrary bytes to the image path of an upload:
// sniffing, DecodeConfig, decoding and thumbnailing must never panic, and
// an accepted image respects the pixel limit and gets a bounded thumbnail.
func FuzzInspectImage(f *testing.F) {
	for _, w := range []int{1, 600} {
		img := image.NewRGBA(image.Rect(0, 0, w, w/2+1))
		var b bytes.Buffer
		png.Encode(&b, img)
		f.Add(b.Bytes())
		b.Reset()
		gif.Encode(&b, img, nil)
		f.Add(b.Bytes())
	}
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add([]byte("\xff\xd8\xff\xe0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		blobs := &memBlobs{m: map[string][]byte{}}
		s := &Server{blobs: blobs}
		u := chat.Upload{ID: chat.NewID(), Name: "x", Mime: sniff(data)}
		blobs.m[u.ID] = data
		if !safeRaster[u.Mime] {
			return
		}
		if err := s.inspectImage(&u); err != nil {
			if !errors.Is(err, chat.ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if int64(u.Width)*int64(u.Height) > maxPixels {
			t.Fatalf("accepted %d×%d", u.Width, u.Height)
		}
		if u.ThumbID != "" {
			th, err := jpeg.DecodeConfig(bytes.NewReader(blobs.m[u.ThumbID]))
			if err != nil || th.Width > thumbSide || th.Height > thumbSide {
				t.Fatalf("thumbnail %+v %v", th, err)
			}
		}
	})
}
