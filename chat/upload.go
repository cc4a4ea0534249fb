package chat

import (
	"context"
	"errors"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInsufficientStorage means the disk is full; nothing was kept.
var ErrInsufficientStorage = errors.New("insufficient storage")

// Upload is a file a participant uploaded, before and after a message uses it.
type Upload struct {
	ID        string
	ThumbID   string // blob id of the thumbnail; empty when there is none
	MeetingID string
	UserID    string
	Name      string
	Size      int64
	Mime      string
	Width     int // set for images parley could decode
	Height    int
	CreatedAt Time
	MessageID string // the message using it, once one does
}

// IsImage reports whether the upload is an image parley decoded.
func (u Upload) IsImage() bool { return u.Width > 0 && u.Height > 0 }

// UploadInfo is the answer to an upload (SPEC §3).
type UploadInfo struct {
	ID            string `json:"id"`
	Link          string `json:"link"`
	Name          string `json:"name"`
	Size          int64  `json:"size"`
	Mime          string `json:"mime"`
	Width         int    `json:"width,omitempty"`
	Height        int    `json:"height,omitempty"`
	ThumbnailLink string `json:"thumbnail_link,omitempty"`
}

// UploadTTL is how long an upload may wait for a message before it is removed.
const UploadTTL = 24 * time.Hour

// fileLink is the absolute URL an upload's bytes are served at.
func (h *Hub) fileLink(id, name string) string {
	return h.cfg.BaseURL + "/files/" + id + "/" + url.PathEscape(name)
}

func (h *Hub) uploadInfo(u Upload) UploadInfo {
	info := UploadInfo{ID: u.ID, Link: h.fileLink(u.ID, u.Name), Name: u.Name, Size: u.Size, Mime: u.Mime, Width: u.Width, Height: u.Height}
	if u.ThumbID != "" {
		info.ThumbnailLink = h.fileLink(u.ThumbID, thumbName(u.Name))
	}
	return info
}

// thumbName is the file name a thumbnail is served under.
func thumbName(name string) string {
	return "thumb-" + strings.TrimSuffix(name, path.Ext(name)) + ".jpg"
}

// CleanFileName makes a client's file name safe to show, to put in a URL
// path and in a Content-Disposition header: no directories, no control
// characters, no names Windows reserves, at most 200 bytes.
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	stem := strings.ToUpper(strings.TrimSuffix(name, path.Ext(name)))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		name = "_" + name
	}
	if len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		cut := 200 - len(ext)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + ext
	}
	if name == "" {
		name = "file"
	}
	return name
}

// BeginUpload checks that a participant may upload and spends a token of
// its files bucket. Call it before reading the upload's body.
func (h *Hub) BeginUpload(ctx context.Context, p Participant) error {
	pr, err := h.store.Preset(ctx, p.PresetName)
	if err != nil {
		return err
	}
	c := pr.Chat
	if !(c.Public.CanSend && c.Public.Files) && !(c.Private.CanSend && c.Private.Files) {
		return errorf(ErrForbidden, "forbidden", "your preset may not send files")
	}
	return h.take(p.MeetingID, p.ID, KindFiles)
}

// RecordUpload stores an upload whose bytes (and thumbnail) are committed.
func (h *Hub) RecordUpload(ctx context.Context, u Upload) (UploadInfo, error) {
	u.CreatedAt = At(h.clock.Now())
	err := h.store.Update(ctx, func(tx Tx) error { return tx.InsertUpload(ctx, u) })
	if err != nil {
		return UploadInfo{}, err
	}
	return h.uploadInfo(u), nil
}

// FileByBlobID finds what a /files/ link points at: an upload, or its
// thumbnail (thumb true). Removed uploads are not found.
func (h *Hub) FileByBlobID(ctx context.Context, id string) (u Upload, thumb bool, err error) {
	return h.store.UploadByBlobID(ctx, id)
}

// FileName is the name an upload's blob is served under.
func FileName(u Upload, thumb bool) string {
	if thumb {
		return thumbName(u.Name)
	}
	return u.Name
}

// removeBlobs deletes an upload's bytes; called after the commit that
// removed the upload, so a failed transaction never loses bytes.
func (h *Hub) removeBlobs(u Upload) {
	for _, id := range []string{u.ID, u.ThumbID} {
		if id == "" {
			continue
		}
		if err := h.blobs.Remove(id); err != nil {
			h.log.Warn("remove upload", "upload", u.ID, "err", err)
		}
	}
}

// usableUpload loads an upload the sender may attach: its own, of this
// meeting, not yet used, and an image when the message is one.
func usableUpload(ctx context.Context, r Reader, p Participant, id, typ string) (Upload, error) {
	u, err := r.Upload(ctx, id)
	if err == nil && (u.UserID != p.ID || u.MeetingID != p.MeetingID) {
		err = ErrNotFound
	}
	if isNotFound(err) {
		return Upload{}, errorf(ErrNotFound, "not_found", "no upload %s", id)
	}
	if err != nil {
		return Upload{}, err
	}
	if u.MessageID != "" {
		return Upload{}, errorf(ErrConflict, "conflict", "upload %s is already used by a message", id)
	}
	if typ == TypeImage && !u.IsImage() {
		return Upload{}, errorf(ErrInvalid, "invalid_request", "upload %s is not an image parley can show; send it as a file", id)
	}
	return u, nil
}

// attach fills a message's file fields from an upload.
func (h *Hub) attach(m *Message, u Upload) {
	m.UploadID = u.ID
	m.Link = h.fileLink(u.ID, u.Name)
	m.Thumbnail, m.Width, m.Height, m.Name, m.Size = "", 0, 0, "", 0
	if m.Type == TypeImage {
		m.Width, m.Height = u.Width, u.Height
		m.Thumbnail = m.Link
		if u.ThumbID != "" {
			m.Thumbnail = h.fileLink(u.ThumbID, thumbName(u.Name))
		}
	} else {
		m.Name, m.Size = u.Name, u.Size
	}
}

// collectUploads removes uploads no message used within UploadTTL, then
// schedules itself again.
func (h *Hub) collectUploads() {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return
	}
	ctx := context.Background()
	cutoff := h.clock.Now().Add(-UploadTTL)
	for {
		var gone []Upload
		err := h.store.Update(ctx, func(tx Tx) error {
			us, err := tx.UnusedUploads(ctx, cutoff, 100)
			if err != nil {
				return err
			}
			for _, u := range us {
				if err := tx.DeleteUpload(ctx, u.ID, h.clock.Now()); err != nil {
					return err
				}
			}
			gone = us
			return nil
		})
		if err != nil {
			h.log.Error("collect unused uploads", "err", err)
			break
		}
		for _, u := range gone {
			h.removeBlobs(u)
		}
		if len(gone) > 0 {
			h.log.Info("collected unused uploads", "count", len(gone))
		}
		if len(gone) < 100 {
			break
		}
	}
	h.clock.AfterFunc(time.Hour, h.collectUploads)
}
