package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/holdrelay/relay/admin/server"
)

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
		t, err := parseToken(strings.TrimSpace(entry))
		if err != nil {
			return fmt.Errorf("entry %d: %w", len(l.tokens)+1, err)
		}
		l.tokens = append(l.tokens, t)
	}
	// The rest of the rule is the admin server's, the same at a reload.
	return server.CheckTokens(l.tokens, false)
}

// parseToken reads one entry's syntax, name:role:secret.
func parseToken(s string) (server.Token, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return server.Token{}, errors.New("want name:role:secret")
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
