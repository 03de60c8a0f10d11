package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// SMTP clients of the in-process relayd, for the tests that show what a
// credential's settings and changes do to the applications using it.

// addCredential creates a credential through relayctl and remembers its
// password, printed once, for login.
func (rd *relayd) addCredential(t *testing.T, name string, settings ...string) string {
	t.Helper()
	out := mustRun(t, append([]string{"--admin", rd.Socket, "-o", "json", "credential", "add", name}, settings...)...)
	var cc admin.CredentialCreated
	if err := json.Unmarshal([]byte(out), &cc); err != nil || cc.Password == "" {
		t.Fatalf("credential add %s: %v in:\n%s", name, err, out)
	}
	rd.passwords[name] = cc.Password
	return cc.Password
}

// dial opens an SMTP session, closed at the end of the test.
func (rd *relayd) dial(t *testing.T) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(rd.smtp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// login opens a session authenticated as user with password.
func (rd *relayd) login(t *testing.T, user, password string) *smtp.Client {
	t.Helper()
	c := rd.dial(t)
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		t.Fatalf("AUTH as %s: %v", user, err)
	}
	return c
}

// authCode tries to log in on a new session and returns the reply code:
// 0 for success.
func (rd *relayd) authCode(t *testing.T, user, password string) int {
	t.Helper()
	c := rd.dial(t)
	defer c.Close()
	return smtpCode(c.Auth(sasl.NewPlainClient("", user, password)))
}

// submit sends one message from from on c, with a body of about size
// bytes, and returns its ID from the 250 reply, or the first error.
func submit(c *smtp.Client, from string, size int) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	if err := c.Rcpt("someone@example.org", nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(w, "From: %s\r\nTo: someone@example.org\r\nSubject: test\r\n\r\n", from)
	line := strings.Repeat("x", 70) + "\r\n"
	for n := 0; n < size; n += len(line) {
		fmt.Fprint(w, line)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	_, id, ok := strings.Cut(resp.StatusText, "queued as ")
	if !ok {
		return "", fmt.Errorf("reply %q names no ID", resp.StatusText)
	}
	return id, nil
}

// mustSubmit is submit that fails the test on an error.
func mustSubmit(t *testing.T, c *smtp.Client, from string) string {
	t.Helper()
	id, err := submit(c, from, 100)
	if err != nil {
		t.Fatalf("sending from %s: %v", from, err)
	}
	return id
}

// smtpCode is err's SMTP reply code: 0 for no error, -1 for an error
// that is no reply (the connection closed).
func smtpCode(err error) int {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return se.Code
	}
	return -1
}

// refused checks that err is an SMTP reply with code and enhanced code.
func refused(t *testing.T, what string, err error, code int, enhanced smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enhanced {
		t.Errorf("%s: %v, want %d %d.%d.%d", what, err, code, enhanced[0], enhanced[1], enhanced[2])
	}
}

// cannotSend checks that a session can no longer send: the server has
// closed its connection, or refuses MAIL with 530 5.7.0.
func cannotSend(t *testing.T, what string, c *smtp.Client, from string) {
	t.Helper()
	_, err := submit(c, from, 100)
	if code := smtpCode(err); code != -1 && code != 530 {
		t.Errorf("%s: sending gave %v, want a closed connection or 530 5.7.0", what, err)
	}
}

// upstreamFrom counts the messages the upstream received from sender.
func (rd *relayd) upstreamFrom(sender string) int {
	n := 0
	for _, m := range rd.up.Messages() {
		if m.From == sender {
			n++
		}
	}
	return n
}

// credentialJSON runs credential show -o json.
func (rd *relayd) credentialJSON(t *testing.T, name string) admin.CredentialDetails {
	t.Helper()
	var d admin.CredentialDetails
	out := mustRun(t, "--admin", rd.Socket, "-o", "json", "credential", "show", name)
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return d
}

// countStates counts a credential's messages per state, in the spool.
func (rd *relayd) countStates(t *testing.T, cred string) map[spool.State]int {
	t.Helper()
	counts, err := rd.Spool.Count(spool.Selector{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// settle moves the clock an hour on, past any hold window, and waits
// until the dispatcher has delivered a message sent after that, by a
// credential of its own: what it was going to deliver by then, it has.
func (rd *relayd) settle(t *testing.T) {
	t.Helper()
	if rd.passwords["barrier"] == "" {
		_, pw, err := rd.Creds.Add("barrier", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		rd.passwords["barrier"] = pw
	}
	rd.Clock.Advance(time.Hour)
	id := rd.send(t, "barrier", "barrier")
	rd.Clock.Advance(time.Minute)
	rd.waitState(t, id, spool.Delivered)
	// The dispatcher logs an outcome once it is on disk, so a reader can
	// see Delivered a moment before the line.
	eventually(t, "the barrier's delivery attempt to be logged", func() bool {
		return strings.Contains(rd.Log.String(), `msg="delivery attempt" id=`+id)
	})
}
