package web_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/chat"
)

// upload posts a file as multipart field "file".
func (s *testServer) upload(token, name string, content []byte) (int, apiResp, chat.UploadInfo) {
	s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/v2/uploads", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var r apiResp
	json.NewDecoder(res.Body).Decode(&r)
	var info chat.UploadInfo
	if r.Success {
		json.Unmarshal(r.Data, &info)
	}
	return res.StatusCode, r, info
}

func (s *testServer) mustUpload(token, name string, content []byte) chat.UploadInfo {
	s.t.Helper()
	code, r, info := s.upload(token, name, content)
	if code != 201 {
		s.t.Fatalf("upload %s: %d %+v", name, code, r.Error)
	}
	return info
}

// get fetches a link and returns the response with its body read.
func get(t *testing.T, link string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", link, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func pngOf(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, h/2, color.RGBA{255, 0, 0, 255})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// hugePNGHeader is a tiny file whose header claims 60000×60000 pixels.
func hugePNGHeader() []byte {
	b := pngOf(1, 1)
	ihdr := b[8+8 : 8+8+13] // after the signature, length and type
	binary.BigEndian.PutUint32(ihdr[0:4], 60000)
	binary.BigEndian.PutUint32(ihdr[4:8], 60000)
	crc := crc32.ChecksumIEEE(b[8+4 : 8+8+13])
	binary.BigEndian.PutUint32(b[8+8+13:], crc)
	return b
}

// blobFiles lists what is in the files directory.
func (s *testServer) blobFiles() []string {
	entries, _ := os.ReadDir(filepath.Join(s.dir, "files"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestImageMessage(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa := s.participant(m.ID, "Alice", "participant")
	alice, bob := s.join(pa.Token), s.join(s.participant(m.ID, "Bob", "participant").Token)

	info := s.mustUpload(pa.Token, "holiday.png", pngOf(1000, 500))
	if info.Mime != "image/png" || info.Width != 1000 || info.Height != 500 || info.ThumbnailLink == "" || !strings.HasPrefix(info.Link, s.URL+"/files/") {
		t.Fatalf("upload info %+v", info)
	}
	var msg chat.Message
	alice.ok("chat.send", map[string]any{"type": "image", "upload_id": info.ID}, &msg)
	if msg.Type != "image" || msg.Link != info.Link || msg.Thumbnail != info.ThumbnailLink || msg.Width != 1000 || msg.Height != 500 {
		t.Fatalf("image message %+v", msg)
	}
	if got := bob.event("chat.message").message(t); got.Link != info.Link {
		t.Fatalf("bob got %+v", got)
	}
	// The thumbnail is a JPEG of at most 480 px on the long side.
	res, body := get(t, msg.Thumbnail)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	th, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || th.Bounds().Dx() != 480 || th.Bounds().Dy() != 240 {
		t.Fatalf("thumbnail %v %v", th.Bounds(), err)
	}
	// The original, with ranges.
	res, body = get(t, msg.Link, "Range", "bytes=0-7")
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("range: %d %q", res.StatusCode, body)
	}
	// An upload is used once; a text upload can't be an image.
	alice.fail("chat.send", map[string]any{"type": "image", "upload_id": info.ID}, "conflict")
	txt := s.mustUpload(pa.Token, "notes.txt", []byte("plain words"))
	alice.fail("chat.send", map[string]any{"type": "image", "upload_id": txt.ID}, "invalid_request")
	bob.fail("chat.send", map[string]any{"type": "file", "upload_id": txt.ID}, "not_found") // not his
	alice.fail("chat.send", map[string]any{"type": "file"}, "invalid_request")
	// Small images are their own thumbnail.
	small := s.mustUpload(pa.Token, "icon.png", pngOf(32, 32))
	alice.ok("chat.send", map[string]any{"type": "image", "upload_id": small.ID}, &msg)
	if small.ThumbnailLink != "" || msg.Thumbnail != msg.Link {
		t.Fatalf("small image: %+v / %+v", small, msg)
	}
}

func TestFileMessageEditAndDelete(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	pa := s.participant(m.ID, "Alice", "participant")
	alice, bob := s.join(pa.Token), s.join(s.participant(m.ID, "Bob", "participant").Token)

	first := s.mustUpload(pa.Token, "report v1.pdf", []byte("%PDF-1.4 first"))
	var msg chat.Message
	alice.ok("chat.send", map[string]any{"type": "file", "upload_id": first.ID}, &msg)
	if msg.Type != "file" || msg.Name != "report v1.pdf" || msg.Size != int64(len("%PDF-1.4 first")) || msg.Link != first.Link {
		t.Fatalf("file message %+v", msg)
	}
	bob.event("chat.message")
	res, body := get(t, msg.Link)
	if res.StatusCode != 200 || string(body) != "%PDF-1.4 first" {
		t.Fatalf("file: %d %q", res.StatusCode, body)
	}

	second := s.mustUpload(pa.Token, "report v2.pdf", []byte("%PDF-1.4 second"))
	var edited chat.Message
	alice.ok("chat.edit", map[string]any{"id": msg.ID, "upload_id": second.ID}, &edited)
	if edited.Link != second.Link || edited.Name != "report v2.pdf" || !edited.IsEdited {
		t.Fatalf("edited %+v", edited)
	}
	if got := bob.event("chat.updated").message(t); got.Link != second.Link {
		t.Fatalf("bob's update %+v", got)
	}
	if res, _ := get(t, first.Link); res.StatusCode != 404 {
		t.Fatalf("replaced file still served: %d", res.StatusCode)
	}
	alice.fail("chat.edit", map[string]any{"id": msg.ID, "message": "text for a file?"}, "invalid_request")

	alice.ok("chat.delete", map[string]any{"id": msg.ID}, nil)
	if res, _ := get(t, second.Link); res.StatusCode != 404 {
		t.Fatalf("deleted message's file: %d", res.StatusCode)
	}
	if files := s.blobFiles(); len(files) != 0 {
		t.Fatalf("bytes left on disk: %v", files)
	}
}

func TestServedHeaders(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	p := s.participant(m.ID, "Alice", "participant")
	cases := []struct {
		name, mime string
		content    []byte
		inline     bool
	}{
		{"pic.png", "image/png", pngOf(10, 10), true},
		{"page.html", "text/html; charset=utf-8", []byte("<!doctype html><script>alert(1)</script>"), false},
		{"fake.png", "text/html; charset=utf-8", []byte("<html><script>alert(1)</script></html>"), false},
		{"logo.svg", "text/xml; charset=utf-8", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), false},
		{"broken.png", "application/octet-stream", append([]byte("\x89PNG\r\n\x1a\n"), []byte("<script>alert(1)</script>")...), false},
	}
	for _, c := range cases {
		info := s.mustUpload(p.Token, c.name, c.content)
		res, _ := get(t, info.Link)
		h := res.Header
		if res.StatusCode != 200 || h.Get("Content-Type") != c.mime || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d type %q nosniff %q", c.name, res.StatusCode, h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
		}
		attached := strings.HasPrefix(h.Get("Content-Disposition"), "attachment") && h.Get("Content-Security-Policy") == "sandbox"
		if attached == c.inline {
			t.Errorf("%s: disposition %q csp %q, inline want %v", c.name, h.Get("Content-Disposition"), h.Get("Content-Security-Policy"), c.inline)
		}
	}
}

func TestFileNamesAndPaths(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	p := s.participant(m.ID, "Alice", "participant")
	for give, want := range map[string]string{
		"../../etc/passwd":      "passwd",
		`..\..\windows\win.ini`: "win.ini",
		"CON.txt":               "_CON.txt",
		"a\tb\u0085c.txt":       "abc.txt",
		"..":                    "file",
		"ünïcode 文件.txt":        "ünïcode 文件.txt",
	} {
		info := s.mustUpload(p.Token, give, []byte("x"))
		if info.Name != want {
			t.Errorf("%q stored as %q, want %q", give, info.Name, want)
		}
		if res, _ := get(t, info.Link); res.StatusCode != 200 {
			t.Errorf("%q: link %s answers %d", give, info.Link, res.StatusCode)
		}
		// Another name for the same id, or a path that climbs, finds nothing.
		id := strings.Split(strings.TrimPrefix(info.Link, s.URL+"/files/"), "/")[0]
		for _, bad := range []string{"/files/" + id + "/other.txt", "/files/" + id + "/..%2f..%2fparley.db", "/files/..%2fparley.db/x", "/files/" + id} {
			if res, _ := get(t, s.URL+bad); res.StatusCode != 404 {
				t.Errorf("%s answered %d", bad, res.StatusCode)
			}
		}
	}
}

func TestUploadLimits(t *testing.T) {
	s := newTestServer(t, withHub(func(c *chat.Config) { c.MaxUploadBytes = 100 << 10 }))
	m := s.meeting(nil)
	p := s.participant(m.ID, "Alice", "participant")
	alice := s.join(p.Token)

	code, r, _ := s.upload(p.Token, "huge.png", hugePNGHeader())
	if code != 413 || r.Error.Code != "image_too_large" {
		t.Fatalf("60000×60000 header: %d %+v", code, r.Error)
	}
	code, r, _ = s.upload(p.Token, "big.bin", bytes.Repeat([]byte("a"), 200<<10))
	if code != 413 || r.Error.Code != "payload_too_large" {
		t.Fatalf("oversize: %d %+v", code, r.Error)
	}
	// A declared length over the limit is refused before the body is read.
	req, _ := http.NewRequest("POST", s.URL+"/v2/uploads", io.LimitReader(neverEnding{}, 10<<20))
	req.ContentLength = 10 << 20
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	req.Header.Set("Authorization", "Bearer "+p.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 413 {
		t.Fatalf("declared oversize: %v %v", res, err)
	}
	if files := s.blobFiles(); len(files) != 0 {
		t.Fatalf("refused uploads left %v", files)
	}
	if code, r, _ := s.upload(p.Token, "empty.txt", nil); code != 400 {
		t.Fatalf("empty file: %d %+v", code, r.Error)
	}
	// The files bucket: the image and empty-file refusals spent a token
	// each (the two oversize bodies were refused by their declared length,
	// before the bucket); 18 more fit, and the 21st is refused.
	for i := 0; i < 18; i++ {
		s.mustUpload(p.Token, "f.txt", []byte("x"))
	}
	code, r, _ = s.upload(p.Token, "f.txt", []byte("x"))
	if code != 429 || r.Error.Code != "rate_limited" {
		t.Fatalf("21st file: %d %+v", code, r.Error)
	}
	s.clock.Advance(4 * time.Second)
	var reset struct{ Kind string }
	json.Unmarshal(alice.event("rate_limit.reset").Data, &reset)
	if reset.Kind != "files" {
		t.Fatalf("reset kind %q", reset.Kind)
	}
	s.mustUpload(p.Token, "f.txt", []byte("x"))

	// Who may upload, and how.
	v := s.participant(m.ID, "Vera", "viewer")
	if code, _, _ := s.upload(v.Token, "f.txt", []byte("x")); code != 403 {
		t.Fatalf("viewer upload: %d", code)
	}
	if code, _, _ := s.upload("bad-token", "f.txt", []byte("x")); code != 401 {
		t.Fatalf("bad token upload: %d", code)
	}
	if code, r := s.request("POST", "/v2/uploads", `{"file":"x"}`, "Bearer "+p.Token); code != 415 || r.Error.Code != "unsupported_media_type" {
		t.Fatalf("JSON upload: %d", code)
	}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestUnusedUploadsAreCollected(t *testing.T) {
	s := newTestServer(t)
	m := s.meeting(nil)
	p := s.participant(m.ID, "Alice", "participant")
	alice := s.join(p.Token)
	unused := s.mustUpload(p.Token, "forgotten.png", pngOf(600, 600))
	used := s.mustUpload(p.Token, "kept.txt", []byte("kept"))
	alice.ok("chat.send", map[string]any{"type": "file", "upload_id": used.ID}, nil)
	s.clock.Advance(25 * time.Hour)
	if res, _ := get(t, unused.Link); res.StatusCode != 404 {
		t.Fatalf("unused upload after 25 h: %d", res.StatusCode)
	}
	if res, _ := get(t, unused.ThumbnailLink); res.StatusCode != 404 {
		t.Fatalf("its thumbnail: %d", res.StatusCode)
	}
	if res, _ := get(t, used.Link); res.StatusCode != 200 {
		t.Fatalf("used upload: %d", res.StatusCode)
	}
	if files := s.blobFiles(); len(files) != 1 {
		t.Fatalf("files on disk: %v", files)
	}
}

// fullDisk is a blob store whose disk fills after a few bytes.
type fullDisk struct{ chat.Blobs }

func (d fullDisk) Create(id string) (chat.BlobWriter, error) {
	w, err := d.Blobs.Create(id)
	return &fullWriter{BlobWriter: w}, err
}

type fullWriter struct {
	chat.BlobWriter
	n int
}

func (w *fullWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > 100 {
		return 0, &os.PathError{Op: "write", Path: "blob", Err: syscall.ENOSPC}
	}
	w.n += len(p)
	return w.BlobWriter.Write(p)
}

func TestFullDisk(t *testing.T) {
	s := newTestServer(t, withBlobs(func(b chat.Blobs) chat.Blobs { return fullDisk{b} }))
	m := s.meeting(nil)
	p := s.participant(m.ID, "Alice", "participant")
	code, r, _ := s.upload(p.Token, "big.txt", bytes.Repeat([]byte("a"), 5000))
	if code != http.StatusInsufficientStorage || r.Error.Code != "insufficient_storage" {
		t.Fatalf("full disk: %d %+v", code, r.Error)
	}
	if files := s.blobFiles(); len(files) != 0 {
		t.Fatalf("a failed upload left %v", files)
	}
	if !errors.Is(&os.PathError{Err: syscall.ENOSPC}, syscall.ENOSPC) {
		t.Fatal("ENOSPC detection")
	}
}
