// Package console serves relayd's web console: server-rendered pages
// (html/template from an embed.FS, no build step) over the admin API.
//
// It owns no state but its sessions. Every read and change goes through
// the admin API's own handler, called in-process as console:NAME with the
// session's role (Admin.As), so that roles, answers and audit entries are
// the API's and cannot drift; this package only renders.
//
// Invariants:
//   - A session is an opaque random ID in an HttpOnly, SameSite=Strict
//     cookie (Secure when served over TLS); the token or link code that
//     opened it never reaches the page or its scripts.
//   - Every state-changing request passes http.CrossOriginProtection, and
//     every page carries a Content-Security-Policy whose scripts and
//     styles need the page's nonce.
//   - A message's HTML is shown only inside <iframe sandbox> (no scripts)
//     and served with its own CSP that lets no remote URL load, so that
//     viewing a message fires no tracking pixel and runs no script.
//   - Sign-in attempts are throttled per client address; one-time links
//     are spent in the spool, once.
//   - Bulk changes are shown as a dry run, counted by relayd, before the
//     person confirms them; Drop and Purge need a reason.
package console
