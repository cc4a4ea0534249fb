// Package static embeds parley's browser assets so the binary needs no
// files beside it and no JavaScript toolchain to build.
package static

import "embed"

// FS holds the web client.
//
//go:embed index.html sdk
var FS embed.FS
