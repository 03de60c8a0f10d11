package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// fileTransport writes each message to <dir>/<ID>.eml, for local development,
// demos and tests.
type fileTransport struct {
	dir string
}

// newFile accepts file:///abs/dir, and file://./rel/dir or file:rel/dir
// relative to the working directory, because the default upstream is
// file://<data>/outbox and --data defaults to ./relay-data.
func newFile(u *url.URL) (*fileTransport, error) {
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("upstream URL: file:// takes only a path")
	}
	var dir string
	switch {
	case u.Opaque != "":
		dir = u.Opaque
	case u.Host == "" || u.Host == "localhost":
		dir = u.Path
	case u.Host == "." || u.Host == "..":
		dir = u.Host + u.Path
	default:
		return nil, fmt.Errorf("upstream URL: file:// cannot name host %q: use file:///absolute/dir or file://./relative/dir", u.Host)
	}
	if dir == "" {
		return nil, errors.New("upstream URL: file:// needs a directory")
	}
	return &fileTransport{dir: filepath.Clean(dir)}, nil
}

func (t *fileTransport) String() string {
	if filepath.IsAbs(t.dir) {
		return (&url.URL{Scheme: "file", Path: t.dir}).String()
	}
	return "file:" + t.dir
}

func (t *fileTransport) Deliver(ctx context.Context, env Envelope, body []byte) []Outcome {
	out := outcomes(env.To)
	if len(out) == 0 {
		return out
	}
	name, err := t.write(ctx, env, body)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return settle(out, 0, msgCancelled)
	case err != nil:
		return settle(out, 0, err.Error())
	}
	return settle(out, 250, "2.0.0 written to "+name)
}

// write stores the message atomically: a reader of the outbox sees the whole
// file or none, and a crash never leaves half a message under the final name.
// Writing the same ID again replaces the file, so at-least-once delivery
// after a crash leaves one copy.
func (t *fileTransport) write(ctx context.Context, env Envelope, body []byte) (string, error) {
	if !filepath.IsLocal(env.ID) || strings.ContainsAny(env.ID, `/\`) {
		return "", fmt.Errorf("message ID %q cannot name a file", env.ID)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return "", err
	}
	name := filepath.Join(t.dir, env.ID+".eml")
	tmp, err := os.CreateTemp(t.dir, "."+env.ID+".*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(envelopeHeader(env, body))
	if err == nil {
		_, err = tmp.Write(body)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	// The rename is this transport's end-of-data dot: nothing is delivered
	// once the caller has cancelled.
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if env.BeforeDot != nil {
		if err := env.BeforeDot(); err != nil {
			return "", fmt.Errorf("%s: %w", msgCancelled, err)
		}
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return "", err
	}
	return name, syncDir(t.dir)
}

// envelopeHeader shows a developer the envelope, which the message's own
// headers need not match. Its line ending follows the message's.
func envelopeHeader(env Envelope, body []byte) []byte {
	eol := "\r\n"
	if i := bytes.IndexByte(body, '\n'); i >= 0 && (i == 0 || body[i-1] != '\r') {
		eol = "\n"
	}
	to := make([]string, len(env.To))
	for i, rcpt := range env.To {
		to[i] = "<" + rcpt + ">"
	}
	return fmt.Appendf(nil, "X-Relay-Envelope-From: <%s>%sX-Relay-Envelope-To: %s%s",
		env.From, eol, strings.Join(to, ", "), eol)
}

// syncDir makes the rename itself durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
