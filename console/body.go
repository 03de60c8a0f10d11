package console

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// maxPart bounds what is read of one body part, and maxParts how many
// parts are looked at: the console shows, it does not archive.
const (
	maxPart  = 4 << 20
	maxParts = 100
	maxDepth = 5
)

// body is the text and HTML of a message, as far as they could be read.
type body struct {
	text, html string
	err        error
}

// parseBody finds the first text/plain and text/html parts of a raw
// message, decoded from their transfer encoding. Charsets other than
// UTF-8 and ASCII are shown as they are.
func parseBody(raw []byte) body {
	var b body
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		b.err = err
		return b
	}
	parts := 0
	b.err = walk(&b, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, 0, &parts)
	return b
}

func walk(b *body, ctype, cte string, r io.Reader, depth int, parts *int) error {
	*parts++
	if *parts > maxParts || depth > maxDepth {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if ctype == "" || err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(b, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1, parts); err != nil {
				return err
			}
		}
	}
	if mt != "text/plain" && mt != "text/html" {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(decode(cte, r), maxPart))
	if err != nil {
		return err
	}
	switch {
	case mt == "text/plain" && b.text == "":
		b.text = string(data)
	case mt == "text/html" && b.html == "":
		b.html = string(data)
	}
	return nil
}

func decode(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// newlineStripper drops CR and LF, which base64 bodies wrap with.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
