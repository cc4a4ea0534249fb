package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"time"

	"parley/chat"
)

// Files is chat.Blobs on a directory. Every name is an id parley made,
// checked against a strict pattern, and every access goes through os.Root,
// so no name can reach outside the directory.
type Files struct {
	root *os.Root
}

var _ chat.Blobs = (*Files)(nil)

// blobID is the form of every name Files accepts: what chat.NewID makes.
var blobID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// OpenFiles opens (creating if needed) the blob directory and removes
// temporary files a crash left behind.
func OpenFiles(dir string) (*Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: files: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: files: %w", err)
	}
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("storage: files: %w", err)
	}
	for _, e := range entries {
		if len(e.Name()) > 4 && e.Name()[:4] == ".tmp" {
			root.Remove(e.Name())
		}
	}
	return &Files{root: root}, nil
}

// Close releases the directory.
func (f *Files) Close() error { return f.root.Close() }

func checkID(id string) error {
	if !blobID.MatchString(id) {
		return fmt.Errorf("storage: bad blob id %q: %w", id, chat.ErrNotFound)
	}
	return nil
}

// Create writes to a temporary name; Commit syncs it, renames it into
// place and syncs the directory, so a crash never leaves a half file under
// a real name.
func (f *Files) Create(id string) (chat.BlobWriter, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var r [8]byte
	rand.Read(r[:])
	tmp := ".tmp-" + hex.EncodeToString(r[:])
	file, err := f.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: create blob: %w", err)
	}
	return &blobWriter{f: f, file: file, tmp: tmp, id: id}, nil
}

type blobWriter struct {
	f    *Files
	file *os.File
	tmp  string
	id   string
	done bool
}

func (w *blobWriter) Write(p []byte) (int, error) { return w.file.Write(p) }

func (w *blobWriter) Commit() error {
	if w.done {
		return errors.New("storage: blob already finished")
	}
	w.done = true
	err := w.file.Sync()
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.f.root.Rename(w.tmp, w.id)
	}
	if err != nil {
		w.f.root.Remove(w.tmp)
		return fmt.Errorf("storage: commit blob: %w", err)
	}
	return w.f.syncDir()
}

func (w *blobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.file.Close()
	w.f.root.Remove(w.tmp)
}

// syncDir makes a rename durable.
func (f *Files) syncDir() error {
	d, err := f.root.Open(".")
	if err != nil {
		return fmt.Errorf("storage: sync files dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync files dir: %w", err)
	}
	return nil
}

// Open returns a committed blob.
func (f *Files) Open(id string) (chat.Blob, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	file, err := f.root.Open(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("storage: blob %s: %w", id, chat.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open blob: %w", err)
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("storage: stat blob: %w", err)
	}
	return &blob{File: file, size: fi.Size(), mod: fi.ModTime()}, nil
}

type blob struct {
	*os.File
	size int64
	mod  time.Time
}

func (b *blob) Size() int64        { return b.size }
func (b *blob) ModTime() time.Time { return b.mod }

// Remove deletes a blob.
func (f *Files) Remove(id string) error {
	if err := checkID(id); err != nil {
		return nil
	}
	if err := f.root.Remove(id); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: remove blob: %w", err)
	}
	return nil
}
