package chat_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"parley/chat"
)

// FuzzCleanFileName: whatever a client calls its file, the cleaned name is
// valid UTF-8, non-empty, at most 200 bytes, and has no path separators,
// control characters or quotes.
func FuzzCleanFileName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../etc/passwd", `..\win.ini`, "CON", "nul.txt", "", "..", " . ", "a\x00b", "\xff\xfe.txt", strings.Repeat("é", 300) + ".tar.gz", "\"quoted\".txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := chat.CleanFileName(in)
		if got == "" || len(got) > 200 || !utf8.ValidString(got) {
			t.Fatalf("CleanFileName(%q) = %q", in, got)
		}
		if strings.ContainsAny(got, `/\"`) || got == "." || got == ".." {
			t.Fatalf("CleanFileName(%q) = %q keeps a separator or quote", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("CleanFileName(%q) = %q keeps a control character", in, got)
			}
		}
		if chat.CleanFileName(got) != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, chat.CleanFileName(got))
		}
	})
}
