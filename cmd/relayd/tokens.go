package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/holdrelay/relay/admin/server"
)

// minTokenSecret is admin/server's shortest secret: a start refused here
// is better than one refused after the spool is open.
const minTokenSecret = 16

// tokenList is --admin-tokens: name:role:secret entries separated by
// commas. Unlike pflag's string slices it reads no CSV quoting, so a quote
// is just a character of a secret; and its errors give an entry's
// position, never its text, which holds a secret.
type tokenList struct {
	tokens []server.Token
	set    bool // by a flag, the environment or the file: later Sets append
}

var _ pflag.Value = (*tokenList)(nil)

func (l *tokenList) Type() string { return "strings" }

// String is what pflag shows as the default: names and roles only.
func (l *tokenList) String() string {
	names := make([]string, len(l.tokens))
	for i, t := range l.tokens {
		names[i] = t.Name + ":" + t.Role + ":…"
	}
	return strings.Join(names, ",")
}

func (l *tokenList) Set(value string) error {
	if !l.set {
		l.tokens, l.set = nil, true
	}
	if value == "" {
		return nil
	}
	for _, entry := range strings.Split(value, ",") {
		n := len(l.tokens) + 1
		t, err := parseToken(strings.TrimSpace(entry))
		if err != nil {
			return fmt.Errorf("entry %d: %w", n, err)
		}
		for i, prev := range l.tokens {
			if prev.Secret == t.Secret {
				return fmt.Errorf("entry %d: same secret as entry %d", n, i+1)
			}
		}
		l.tokens = append(l.tokens, t)
	}
	return nil
}

func parseToken(s string) (server.Token, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return server.Token{}, errors.New("want name:role:secret")
	}
	if parts[1] != server.RoleOperator && parts[1] != server.RoleSupport {
		return server.Token{}, errors.New("role must be operator or support")
	}
	if len(parts[2]) < minTokenSecret {
		return server.Token{}, fmt.Errorf("secret shorter than %d characters", minTokenSecret)
	}
	return server.Token{Name: parts[0], Role: parts[1], Secret: parts[2]}, nil
}

// withoutSecret is a flag error as pflag makes it, unless the flag holds
// secrets: pflag quotes the whole value, so then only the cause is kept.
func withoutSecret(err error) error {
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		if _, secret := bad.GetFlag().Value.(*tokenList); secret {
			return fmt.Errorf("--%s: %w", bad.GetFlag().Name, bad.Unwrap())
		}
	}
	return err
}
