package auth

import (
	"bytes"
	"errors"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// The SASL servers below return no error of their own for anything a client
// sends: a response they refuse (malformed, an empty username, a PLAIN
// authorization identity other than the username) is refused by calling
// authenticate with an empty username, which no credential has, and
// returning its error. So the caller's error, and with it the SMTP reply
// (smtp.ErrAuthFailed for 535), is the only one a client can ever provoke.
// Service.Verify rejects an empty username like any unknown one, after the
// same argon2 work, so a malformed response also tells nothing by its
// timing.

// errRefused is returned only if authenticate accepts an empty username,
// which a correct authenticate never does.
var errRefused = errors.New("auth: malformed SASL response")

// maxUsername bounds a SASL username in bytes; credential names are far
// shorter, but the servers do not assume they serve a Service.
const maxUsername = 255

type authFunc func(username, password string) error

// refuse fails a login through authenticate; see above.
func refuse(authenticate authFunc) error {
	if err := authenticate("", ""); err != nil {
		return err
	}
	return errRefused
}

func validUsername(u []byte) bool {
	if len(u) == 0 || len(u) > maxUsername || !utf8.Valid(u) {
		return false
	}
	return bytes.IndexFunc(u, unicode.IsControl) < 0
}

type plainServer struct {
	authenticate authFunc
	done         bool
}

// NewPlainServer returns a server for AUTH PLAIN (RFC 4616). An
// authorization identity is accepted only if it equals the username: a
// credential may not send as another. authenticate returns nil on success;
// its error is returned unchanged.
func NewPlainServer(authenticate func(username, password string) error) sasl.Server {
	return &plainServer{authenticate: authenticate}
}

func (s *plainServer) Next(response []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
	if response == nil {
		return []byte{}, false, nil // no initial response: ask for one
	}
	s.done = true
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 || !validUsername(parts[1]) ||
		len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return nil, true, refuse(s.authenticate)
	}
	return nil, true, s.authenticate(string(parts[1]), string(parts[2]))
}

type loginServer struct {
	authenticate authFunc
	step         int // 0: start, 1: Username: sent, 2: Password: sent, 3: done
	username     string
}

// NewLoginServer returns a server for AUTH LOGIN
// (draft-murchison-sasl-login), which go-sasl lacks and Outlook and many
// libraries still use. The client may send the username as an initial
// response. authenticate returns nil on success; its error is returned
// unchanged.
func NewLoginServer(authenticate func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if response == nil {
			s.step = 1
			return []byte("Username:"), false, nil
		}
		return s.takeUsername(response)
	case 1:
		return s.takeUsername(response)
	case 2:
		s.step = 3
		return nil, true, s.authenticate(s.username, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

func (s *loginServer) takeUsername(u []byte) ([]byte, bool, error) {
	if !validUsername(u) {
		s.step = 3
		return nil, true, refuse(s.authenticate)
	}
	s.username, s.step = string(u), 2
	return []byte("Password:"), false, nil
}
