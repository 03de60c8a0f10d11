package mailapi

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// maxLine is where header lines are folded (RFC 5322 section 2.1.1's
// SHOULD of 78); hardLine is its MUST of 998.
const (
	maxLine  = 78
	hardLine = 998
)

// build writes the draft as an RFC 5322 message. trace is relay's
// Received header, written first. It fails only on a header that cannot
// be folded within 998 octets.
func build(d *draft, trace []byte, now time.Time, hostname string) ([]byte, error) {
	var b bytes.Buffer
	b.Write(trace)
	h := &headerWriter{b: &b}
	h.field("Date", now.Format(time.RFC1123Z))
	msgID := ""
	for name, v := range d.headers {
		if strings.EqualFold(name, "Message-ID") {
			msgID = v
		}
	}
	if msgID == "" {
		msgID = newMessageID(hostname)
	}
	h.field("Message-ID", msgID)
	h.addresses("From", []address{d.from})
	if len(d.replyTo) > 0 {
		h.addresses("Reply-To", d.replyTo)
	}
	h.addresses("To", d.to)
	if len(d.cc) > 0 {
		h.addresses("Cc", d.cc)
	}
	h.text("Subject", d.subject)
	for _, name := range slices.Sorted(maps.Keys(d.headers)) {
		if !strings.EqualFold(name, "Message-ID") {
			h.text(name, d.headers[name])
		}
	}
	h.field("MIME-Version", "1.0")
	if h.err != nil {
		return nil, h.err
	}
	writeBody(&b, d)
	return b.Bytes(), nil
}

func newMessageID(hostname string) string {
	var r [16]byte
	rand.Read(r[:])
	return "<" + hex.EncodeToString(r[:]) + "@" + hostname + ">"
}

// headerWriter writes folded header fields, and remembers the first field
// that cannot be written within the line limit.
type headerWriter struct {
	b   *bytes.Buffer
	err error
}

// field writes a value that is already ASCII and safe, folded at spaces.
func (h *headerWriter) field(name, value string) {
	words := strings.Split(value, " ")
	line := name + ":"
	for i, w := range words {
		sep := " "
		if i > 0 && len(line)+1+len(w) > maxLine {
			h.b.WriteString(line + "\r\n")
			line = ""
		}
		line += sep + w
		if len(line) > hardLine && h.err == nil {
			h.err = fmt.Errorf("header %s: a word longer than %d characters cannot be folded", name, hardLine)
		}
	}
	h.b.WriteString(line + "\r\n")
}

// text writes unstructured text (RFC 5322's Subject, custom headers):
// RFC 2047 encoded when it is not plain printable ASCII.
func (h *headerWriter) text(name, value string) {
	h.field(name, mime.QEncoding.Encode("utf-8", value))
}

// addresses writes an address list, one address per line once it is
// long. net/mail quotes and encodes display names as needed.
func (h *headerWriter) addresses(name string, list []address) {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = (&mail.Address{Name: a.Name, Address: a.Email}).String()
	}
	value := strings.Join(parts, ", ")
	if len(name)+2+len(value) <= maxLine {
		h.b.WriteString(name + ": " + value + "\r\n")
		return
	}
	h.b.WriteString(name + ": " + strings.Join(parts, ",\r\n "))
	h.b.WriteString("\r\n")
}

// writeBody writes Content-Type and the body: one text part, text and
// html as multipart/alternative, and with attachments all of it inside
// multipart/mixed.
func writeBody(b *bytes.Buffer, d *draft) {
	if len(d.attachments) == 0 {
		writeContent(b, d.contents)
		return
	}
	mw := multipart.NewWriter(b)
	b.WriteString("Content-Type: multipart/mixed; boundary=" + mw.Boundary() + "\r\n\r\n")
	var inner bytes.Buffer
	writeContent(&inner, d.contents)
	hdr, body, _ := bytes.Cut(inner.Bytes(), []byte("\r\n\r\n"))
	pw, _ := mw.CreatePart(partHeader(hdr))
	pw.Write(body)
	for _, a := range d.attachments {
		pw, _ := mw.CreatePart(attachmentHeader(a))
		writeBase64(pw, a.data)
	}
	mw.Close()
}

// partHeader turns header lines written by writeContent into a part's
// header.
func partHeader(hdr []byte) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			h.Set(k, v)
		}
	}
	return h
}

func writeContent(b *bytes.Buffer, cs []content) {
	if len(cs) == 1 {
		writeText(b, cs[0])
		return
	}
	mw := multipart.NewWriter(b)
	b.WriteString("Content-Type: multipart/alternative; boundary=" + mw.Boundary() + "\r\n\r\n")
	// RFC 2046 section 5.1.4: the preferred (richest) form last.
	ordered := slices.Clone(cs)
	slices.SortStableFunc(ordered, func(x, y content) int {
		return strings.Compare(strings.ToLower(y.Type), strings.ToLower(x.Type)) // text/plain before text/html
	})
	for _, c := range ordered {
		pw, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {strings.ToLower(c.Type) + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		writeQP(pw, c.Value)
	}
	mw.Close()
}

func writeText(b *bytes.Buffer, c content) {
	b.WriteString("Content-Type: " + strings.ToLower(c.Type) + "; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	writeQP(b, c.Value)
}

// writeQP writes text quoted-printable: its line breaks (LF or CRLF)
// become CRLF, and no line is longer than 76 octets.
func writeQP(w interface{ Write([]byte) (int, error) }, s string) {
	qw := quotedprintable.NewWriter(w)
	qw.Write([]byte(s))
	qw.Close()
	w.Write([]byte("\r\n"))
}

func attachmentHeader(a decoded) textproto.MIMEHeader {
	typ := a.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	disp := a.Disposition
	if disp == "" {
		disp = "attachment"
	}
	h := textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType(typ, map[string]string{"name": a.Filename})},
		"Content-Disposition":       {mime.FormatMediaType(disp, map[string]string{"filename": a.Filename})},
		"Content-Transfer-Encoding": {"base64"},
	}
	if a.ContentID != "" {
		h.Set("Content-ID", "<"+a.ContentID+">")
	}
	return h
}

// writeBase64 writes data base64 encoded in lines of 76 (RFC 2045).
func writeBase64(w interface{ Write([]byte) (int, error) }, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	w.Write([]byte(enc + "\r\n"))
}
