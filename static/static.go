// Package static embeds parley's browser assets — the web client, the admin
// page and the SDK — so the binary needs no files beside it and building it
// needs no JavaScript toolchain.
package static

import "embed"

// FS holds the web client, the admin page and the SDK.
//
//go:embed index.html admin.html app.js app.css admin.js sdk
var FS embed.FS
