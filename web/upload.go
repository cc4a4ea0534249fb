package web

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	_ "image/gif" // registers the GIF decoder
	_ "image/png" // registers the PNG decoder

	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the WebP decoder

	"parley/chat"
)

const (
	// maxPixels refuses decompression bombs: a small file can claim a huge
	// image, so dimensions are read (DecodeConfig) before anything is decoded.
	maxPixels = 50_000_000
	// thumbSide is the long side of a thumbnail, in pixels.
	thumbSide = 480
	// multipartSlack is what the multipart framing may add to a file.
	multipartSlack = 64 << 10
)

// safeRaster lists the types a browser renders inline without running
// anything: everything else is served as an attachment in a sandbox.
var safeRaster = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// decodeSlots bounds how many images are decoded at once; each may take
// a few hundred MB at the pixel limit.
var decodeSlots = make(chan struct{}, 2)

// handleUpload stores a participant's file: POST /v2/uploads, multipart
// field "file".
func (s *Server) handleUpload() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := s.upload(w, r)
		if err != nil {
			// Whatever of the body is left is not read: the connection is closed.
			w.Header().Set("Connection", "close")
			writeError(w, s.log, err)
			return
		}
		writeData(w, http.StatusCreated, info)
	})
}

func tooLarge(max int64) error {
	return &chat.Error{Kind: chat.ErrTooLarge, Code: "payload_too_large", Msg: "the file is larger than " + strconv.FormatInt(max, 10) + " bytes"}
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) (chat.UploadInfo, error) {
	ctx := r.Context()
	p, err := s.hub.Authenticate(ctx, bearer(r))
	if err != nil {
		return chat.UploadInfo{}, err
	}
	max := s.hub.Config().MaxUploadBytes
	if r.ContentLength > max+multipartSlack {
		return chat.UploadInfo{}, tooLarge(max) // refused before reading the body
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return chat.UploadInfo{}, &chat.Error{Kind: errUnsupportedMedia, Code: "unsupported_media_type", Msg: "send the file as multipart/form-data in a field named file"}
	}
	if err := s.hub.BeginUpload(ctx, p); err != nil {
		return chat.UploadInfo{}, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, max+multipartSlack)
	mr := multipart.NewReader(r.Body, params["boundary"])
	part, err := mr.NextPart()
	if err != nil {
		return chat.UploadInfo{}, bodyError(err, max, "no file in the request")
	}
	if part.FormName() != "file" {
		return chat.UploadInfo{}, invalid("unexpected field %q: send only the field file", part.FormName())
	}
	u := chat.Upload{ID: chat.NewID(), MeetingID: p.MeetingID, UserID: p.ID, Name: chat.CleanFileName(part.FileName())}
	head, err := s.saveBlob(u.ID, part, max, &u.Size)
	if err != nil {
		return chat.UploadInfo{}, err
	}
	u.Mime = sniff(head)
	if safeRaster[u.Mime] {
		if err := s.inspectImage(&u); err != nil {
			s.blobs.Remove(u.ID)
			return chat.UploadInfo{}, err
		}
	}
	info, err := s.hub.RecordUpload(ctx, u)
	if err != nil {
		s.blobs.Remove(u.ID)
		if u.ThumbID != "" {
			s.blobs.Remove(u.ThumbID)
		}
		return chat.UploadInfo{}, err
	}
	return info, nil
}

// errUnsupportedMedia maps to 415.
var errUnsupportedMedia = errors.New("unsupported media type")

// bodyError explains a failure to read the request body.
func bodyError(err error, max int64, fallback string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(max)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &chat.Error{Kind: chat.ErrInsufficientStorage, Code: "insufficient_storage", Msg: "the server's disk is full"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("%s", fallback)
	}
	var ce *chat.Error
	if errors.As(err, &ce) {
		return err
	}
	return invalid("%s: %v", fallback, err)
}

// saveBlob copies r into a new blob, keeping its first 512 bytes for
// sniffing. On any failure, nothing is left behind.
func (s *Server) saveBlob(id string, r io.Reader, max int64, size *int64) ([]byte, error) {
	bw, err := s.blobs.Create(id)
	if err != nil {
		return nil, bodyError(err, max, "could not store the file")
	}
	head := &headBuffer{max: 512}
	n, err := io.Copy(io.MultiWriter(bw, head), io.LimitReader(r, max+1))
	switch {
	case err != nil:
		bw.Abort()
		return nil, bodyError(err, max, "the upload was cut off")
	case n > max:
		bw.Abort()
		return nil, tooLarge(max)
	case n == 0:
		bw.Abort()
		return nil, invalid("the file is empty")
	}
	if err := bw.Commit(); err != nil {
		return nil, bodyError(err, max, "could not store the file")
	}
	*size = n
	return head.Bytes(), nil
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.Len(); room > 0 {
		h.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// sniff decides a file's type from its bytes, never from the client's claim.
func sniff(head []byte) string {
	t := http.DetectContentType(head)
	if i := strings.IndexByte(t, ';'); i >= 0 && !strings.HasPrefix(t, "text/") {
		t = t[:i]
	}
	return t
}

// inspectImage reads an image's dimensions, refuses decompression bombs,
// and makes its thumbnail. An image it can't decode stays a plain file.
func (s *Server) inspectImage(u *chat.Upload) error {
	b, err := s.blobs.Open(u.ID)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg, _, err := image.DecodeConfig(b)
	if err != nil {
		u.Mime = "application/octet-stream" // claims to be an image, isn't one
		return nil
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return &chat.Error{Kind: chat.ErrTooLarge, Code: "image_too_large", Msg: "images may have at most 50 megapixels"}
	}
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		return err
	}
	decodeSlots <- struct{}{}
	img, _, err := image.Decode(b)
	<-decodeSlots
	if err != nil {
		u.Mime = "application/octet-stream"
		return nil
	}
	u.Width, u.Height = cfg.Width, cfg.Height
	if cfg.Width <= thumbSide && cfg.Height <= thumbSide {
		return nil // small enough to be its own thumbnail
	}
	return s.saveThumbnail(u, img)
}

// saveThumbnail scales img to thumbSide on its long side and stores it as
// a JPEG (transparent parts on white).
func (s *Server) saveThumbnail(u *chat.Upload, img image.Image) error {
	w, h := u.Width, u.Height
	if w >= h {
		w, h = thumbSide, max(1, h*thumbSide/w)
	} else {
		w, h = max(1, w*thumbSide/h), thumbSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), xdraw.Over, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 82}); err != nil {
		return err
	}
	u.ThumbID = chat.NewID()
	var size int64
	if _, err := s.saveBlob(u.ThumbID, &buf, int64(buf.Len()), &size); err != nil {
		u.ThumbID = ""
		return err
	}
	return nil
}

// handleFile serves an upload or its thumbnail. The id is unguessable, so
// the link is the credential (it works in <img src>, which sends no
// header). Only safe raster images are shown inline; anything else —
// HTML, SVG, a polyglot — is an attachment in a sandbox, and nosniff
// stops the browser from second-guessing the type.
func (s *Server) handleFile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, name := param(r, "file_id"), param(r, "name")
		u, thumb, err := s.hub.FileByBlobID(r.Context(), id)
		if err == nil && name != chat.FileName(u, thumb) {
			err = chat.ErrNotFound
		}
		var b chat.Blob
		if err == nil {
			b, err = s.blobs.Open(id)
		}
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		defer b.Close()
		ctype := u.Mime
		if thumb {
			ctype = "image/jpeg"
		}
		hd := w.Header()
		hd.Set("Content-Type", ctype)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "private, max-age=86400")
		if !safeRaster[ctype] {
			hd.Set("Content-Disposition", attachment(chat.FileName(u, thumb)))
			hd.Set("Content-Security-Policy", "sandbox")
		}
		http.ServeContent(w, r, "", b.ModTime(), b)
	})
}

// attachment builds a Content-Disposition header: an ASCII fallback name
// and the exact UTF-8 name (RFC 6266).
func attachment(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + url.PathEscape(name)
}
