package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var errBad = errors.New("test: bad credentials")

// recorder is an authenticate func that accepts alice/secret and remembers
// what it was asked and what it answered.
type recorder struct {
	calls   []string
	results []error
}

func (r *recorder) authenticate(user, pw string) error {
	r.calls = append(r.calls, user+"/"+pw)
	err := errBad
	if user == "alice" && pw == "secret" {
		err = nil
	}
	r.results = append(r.results, err)
	return err
}

type saslStep struct {
	response  []byte // nil: no (initial) response
	challenge string
	done      bool
	err       error
}

func runDialogue(t *testing.T, srv sasl.Server, steps []saslStep) {
	t.Helper()
	for i, st := range steps {
		challenge, done, err := srv.Next(st.response)
		if string(challenge) != st.challenge || done != st.done || !errors.Is(err, st.err) || (err == nil) != (st.err == nil) {
			t.Fatalf("step %d: Next(%q) = %q, %v, %v; want %q, %v, %v",
				i, st.response, challenge, done, err, st.challenge, st.done, st.err)
		}
	}
}

func TestLoginServer(t *testing.T) {
	tests := []struct {
		name  string
		steps []saslStep
		calls string
	}{
		{"challenges", []saslStep{
			{nil, "Username:", false, nil},
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
		}, "alice/secret"},
		{"initial response", []saslStep{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
		}, "alice/secret"},
		{"wrong password", []saslStep{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("guess"), "", true, errBad},
		}, "alice/guess"},
		{"empty password", []saslStep{
			{nil, "Username:", false, nil},
			{[]byte("alice"), "Password:", false, nil},
			{[]byte{}, "", true, errBad},
		}, "alice/"},
		{"empty initial response", []saslStep{
			{[]byte{}, "", true, errBad},
		}, "/"},
		{"empty username", []saslStep{
			{nil, "Username:", false, nil},
			{[]byte{}, "", true, errBad},
		}, "/"},
		{"username with NUL", []saslStep{{[]byte("alice\x00"), "", true, errBad}}, "/"},
		{"username with CRLF", []saslStep{{[]byte("alice\r\nRCPT"), "", true, errBad}}, "/"},
		{"username not UTF-8", []saslStep{{[]byte("\xffalice"), "", true, errBad}}, "/"},
		{"username too long", []saslStep{{[]byte(strings.Repeat("a", 256)), "", true, errBad}}, "/"},
		{"response after the end", []saslStep{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
			{[]byte("more"), "", false, sasl.ErrUnexpectedClientResponse},
		}, "alice/secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			runDialogue(t, NewLoginServer(r.authenticate), tt.steps)
			if got := strings.Join(r.calls, ","); got != tt.calls {
				t.Errorf("authenticate calls = %q, want %q", got, tt.calls)
			}
		})
	}
}

func TestPlainServer(t *testing.T) {
	tests := []struct {
		name  string
		steps []saslStep
		calls string
	}{
		{"initial response", []saslStep{
			{[]byte("\x00alice\x00secret"), "", true, nil},
		}, "alice/secret"},
		{"empty challenge first", []saslStep{
			{nil, "", false, nil},
			{[]byte("\x00alice\x00secret"), "", true, nil},
		}, "alice/secret"},
		{"identity equal to username", []saslStep{
			{[]byte("alice\x00alice\x00secret"), "", true, nil},
		}, "alice/secret"},
		{"wrong password", []saslStep{
			{[]byte("\x00alice\x00guess"), "", true, errBad},
		}, "alice/guess"},
		{"identity of another user", []saslStep{
			{[]byte("bob\x00alice\x00secret"), "", true, errBad},
		}, "/"},
		{"one separator", []saslStep{{[]byte("alice\x00secret"), "", true, errBad}}, "/"},
		{"three separators", []saslStep{{[]byte("\x00alice\x00sec\x00ret"), "", true, errBad}}, "/"},
		{"empty username", []saslStep{{[]byte("\x00\x00secret"), "", true, errBad}}, "/"},
		{"empty response", []saslStep{{[]byte{}, "", true, errBad}}, "/"},
		{"response after the end", []saslStep{
			{[]byte("\x00alice\x00secret"), "", true, nil},
			{[]byte("\x00alice\x00secret"), "", false, sasl.ErrUnexpectedClientResponse},
		}, "alice/secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			runDialogue(t, NewPlainServer(r.authenticate), tt.steps)
			if got := strings.Join(r.calls, ","); got != tt.calls {
				t.Errorf("authenticate calls = %q, want %q", got, tt.calls)
			}
		})
	}
}

// An authenticate that wrongly accepts an empty username must still not
// let a malformed response through.
func TestRefusalSurvivesLaxAuthenticate(t *testing.T) {
	lax := func(string, string) error { return nil }
	for name, srv := range map[string]sasl.Server{"PLAIN": NewPlainServer(lax), "LOGIN": NewLoginServer(lax)} {
		if _, done, err := srv.Next([]byte("bob\x00alice")); err == nil {
			t.Errorf("%s accepted a malformed response (done %v)", name, done)
		}
	}
}

// checkSASL drives srv with responses and checks the servers' contract:
// no panic, a bounded dialogue, success only when authenticate succeeded,
// and no error but authenticate's.
func checkSASL(t *testing.T, srv sasl.Server, r *recorder, responses [][]byte) {
	for i, resp := range responses {
		_, done, err := srv.Next(resp)
		if len(r.calls) > 1 {
			t.Fatalf("authenticate called %d times", len(r.calls))
		}
		if err != nil {
			if len(r.results) != 1 || r.results[0] != err {
				t.Fatalf("step %d: error %v is not authenticate's (%v)", i, err, r.results)
			}
			return
		}
		if done {
			if len(r.results) != 1 || r.results[0] != nil {
				t.Fatalf("step %d: success without authenticate succeeding (%v)", i, r.results)
			}
			return
		}
		if i >= 2 {
			t.Fatalf("dialogue still open after %d responses", i+1)
		}
	}
}

func FuzzLoginServer(f *testing.F) {
	f.Add(true, []byte("alice"), []byte("secret"), []byte(""))
	f.Add(false, []byte("alice"), []byte("secret"), []byte(""))
	f.Add(false, []byte(""), []byte("secret"), []byte("x"))
	f.Add(true, []byte("al\x00ice"), []byte("secret"), []byte(""))
	f.Add(true, []byte("alice"), []byte("wrong"), []byte("secret"))
	f.Fuzz(func(t *testing.T, initial bool, a, b, c []byte) {
		responses := [][]byte{nil, a, b, c}
		if initial {
			responses = responses[1:]
		}
		var r recorder
		checkSASL(t, NewLoginServer(r.authenticate), &r, responses)
	})
}

func FuzzPlainServer(f *testing.F) {
	f.Add(true, []byte("\x00alice\x00secret"), []byte(""))
	f.Add(false, []byte("\x00alice\x00secret"), []byte(""))
	f.Add(true, []byte("alice\x00alice\x00secret"), []byte(""))
	f.Add(true, []byte("bob\x00alice\x00secret"), []byte(""))
	f.Add(true, []byte("\x00alice"), []byte("\x00alice\x00secret"))
	f.Fuzz(func(t *testing.T, initial bool, a, b []byte) {
		responses := [][]byte{nil, a, b}
		if initial {
			responses = responses[1:]
		}
		var r recorder
		checkSASL(t, NewPlainServer(r.authenticate), &r, responses)
	})
}

// authSession plugs the servers into go-smtp the way intake does: a bad
// login becomes smtp.ErrAuthFailed, so clients get 535 and do not retry.
type authSession struct{ svc *Service }

func (authSession) Reset()                               {}
func (authSession) Logout() error                        { return nil }
func (authSession) Mail(string, *smtp.MailOptions) error { return nil }
func (authSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (authSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (authSession) AuthMechanisms() []string             { return []string{sasl.Plain, sasl.Login} }
func (s authSession) Auth(mech string) (sasl.Server, error) {
	authenticate := func(user, pw string) error {
		if _, err := s.svc.Verify(user, pw); err != nil {
			return smtp.ErrAuthFailed
		}
		return nil
	}
	switch mech {
	case sasl.Plain:
		return NewPlainServer(authenticate), nil
	case sasl.Login:
		return NewLoginServer(authenticate), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func startSMTP(t *testing.T, svc *Service) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return authSession{svc}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback
	srv.ReadTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestSMTPDialogues scripts AUTH exchanges against a real go-smtp server:
// each line is what the client sends, then the start of the reply it must get.
func TestSMTPDialogues(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	addr := startSMTP(t, f.svc)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		name   string
		script []string // client line, reply prefix, client line, ...
	}{
		{"LOGIN", []string{
			"AUTH LOGIN", "334 VXNlcm5hbWU6", // "Username:"
			b64("app"), "334 UGFzc3dvcmQ6", // "Password:"
			b64(pw), "235 2.0.0"}},
		{"LOGIN initial response", []string{
			"AUTH LOGIN " + b64("app"), "334 UGFzc3dvcmQ6",
			b64(pw), "235 2.0.0"}},
		{"LOGIN wrong password", []string{
			"AUTH LOGIN " + b64("app"), "334 UGFzc3dvcmQ6",
			b64(pw + "x"), "535 5.7.8"}},
		{"LOGIN empty username", []string{"AUTH LOGIN =", "535 5.7.8"}},
		{"LOGIN unknown user", []string{
			"AUTH LOGIN " + b64("nobody"), "334 UGFzc3dvcmQ6",
			b64(pw), "535 5.7.8"}},
		{"PLAIN", []string{"AUTH PLAIN " + b64("\x00app\x00"+pw), "235 2.0.0"}},
		{"PLAIN without initial response", []string{
			"AUTH PLAIN", "334 ",
			b64("\x00app\x00" + pw), "235 2.0.0"}},
		{"PLAIN wrong password", []string{"AUTH PLAIN " + b64("\x00app\x00nope"), "535 5.7.8"}},
		{"PLAIN other identity", []string{"AUTH PLAIN " + b64("root\x00app\x00"+pw), "535 5.7.8"}},
		{"PLAIN malformed", []string{"AUTH PLAIN " + b64("app"), "535 5.7.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := textproto.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			script := append([]string{"", "220 ", "EHLO test", "250 "}, tt.script...)
			for i := 0; i < len(script); i += 2 {
				if script[i] != "" {
					if err := c.PrintfLine("%s", script[i]); err != nil {
						t.Fatal(err)
					}
				}
				code, msg, err := c.ReadResponse(0)
				if err != nil {
					t.Fatalf("after %q: %v", script[i], err)
				}
				if got := fmt.Sprintf("%d %s", code, msg); !strings.HasPrefix(got, script[i+1]) {
					t.Fatalf("after %q: got %q, want %q...", script[i], got, script[i+1])
				}
			}
		})
	}
}
