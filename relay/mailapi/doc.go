// Package mailapi serves SendGrid's v3 Mail Send API (POST /v3/mail/send,
// and POST/GET /v3/mail/batch) in SendGrid's request and response shapes,
// so that an application written against SendGrid's Web API sends
// through relay by changing its base URL and its key. Its mail goes
// through relay.Intake.Submit, as SMTP mail does, and under the same
// rules, applied by the same code: the login with its throttle and cache
// (the API key carries the credential's name and password, see
// auth.APIKey), the allowed senders, the size limits, the rate limit, the
// connection limits and the memory budget.
//
// A request is all or nothing: it is decoded and checked in full (every
// personalization built into its message and checked against the
// credential) before anything is written, and its messages go into the
// spool in one transaction. 202 follows that commit.
//
// Messages are built with the standard library (mime/multipart,
// mime/quotedprintable, mime.QEncoding, net/mail, encoding/base64), not
// go-message: what is needed is writing one known shape (text and/or
// html, attachments), not parsing arbitrary MIME, and the standard
// library does that with no new dependency. Text parts are
// quoted-printable (lines of at most 76 octets whatever the input, CRLF
// line ends, non-ASCII safe); attachments base64 wrapped at 76. Header
// values come from JSON: every one is checked for CR, LF and NUL, and
// non-ASCII is RFC 2047 encoded, so no field can inject a header.
//
// What relay cannot honour (templates, substitutions, unsubscribe groups,
// IP pools, tracking, footers) is refused with 400 naming the field,
// never ignored: ignoring it would send different mail than asked for.
package mailapi
