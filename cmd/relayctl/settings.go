package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/size"
)

// settingsOptions are a credential's settings as add and set take them.
// Each stays nil unless its flag is given, so that set changes only what
// was asked for. Bad values are flag errors, hence usage errors.
type settingsOptions struct {
	Description    *string
	Hold           *string   // Go duration text, or admin.HoldDefault
	AllowedSenders *[]string // from --allow-sender; empty from --allow-any-sender
	MaxSize        *int64    // bytes; 0: relayd's --max-message-size alone
	RateLimit      *int      // messages per minute; 0: no limit
	// Brake thresholds: a number, or admin.BrakeDefault. Set only.
	BrakeDuplicates *string
	BrakeRate       *string
	// Upstream URLs, or admin.UpstreamDefault; relayd checks them.
	Upstream         *string
	UpstreamFallback *string
}

// settingsHelp is the part of add's and set's --help that explains them.
const settingsHelp = `Settings:
  --description TEXT      what the credential is for, shown in listings
  --hold DURATION         its own hold window instead of relayd's --hold:
                          0s delivers its messages at once; "default" goes
                          back to relayd's --hold
  --allow-sender ADDRESS  the only senders it may use, in MAIL FROM and the
                          From: header: an address or @domain; repeat for
                          more (other senders are refused with 550 5.7.1)
  --max-size SIZE         its largest message: bytes, or with KiB, MiB, KB,
                          MB (refused with 552); 0: relayd's
                          --max-message-size alone, which applies anyway
  --rate-limit N          messages per minute it may send (more are refused
                          with 450 4.7.1, which clients retry); 0: no limit
  --upstream URL          its own upstream instead of relayd's --upstream,
                          in the same form (smtp://, smtps://, file://);
                          "default" goes back to relayd's
  --upstream-fallback URL its own fallback instead of relayd's
                          --upstream-fallback, tried when its upstream
                          answers 4xx or cannot be reached; "default" goes
                          back to relayd's`

func addSettingsFlags(fs *pflag.FlagSet, s *settingsOptions) {
	fs.Var(textFlag{&s.Description}, "description", "what the credential is for, shown in listings")
	fs.Var(holdFlag{&s.Hold}, "hold", `its own hold window, e.g. 0s, 30s, 5m, or "default" for relayd's --hold`)
	fs.Var(senderFlag{&s.AllowedSenders}, "allow-sender", "a sender it may use: an address or @domain; repeat for more (default: any)")
	fs.Var(sizeFlag{&s.MaxSize}, "max-size", "its largest message, e.g. 10MiB or 500000 (0: relayd's limit alone)")
	fs.Var(countFlag{&s.RateLimit}, "rate-limit", "messages per minute it may send (0: no limit)")
	fs.Var(textFlag{&s.Upstream}, "upstream", `its own upstream URL, as relayd's --upstream, or "default" for relayd's`)
	fs.Var(textFlag{&s.UpstreamFallback}, "upstream-fallback", `its own fallback upstream URL, or "default" for relayd's --upstream-fallback`)
}

// given reports whether any setting was given.
func (s settingsOptions) given() bool {
	return s.Description != nil || s.Hold != nil || s.AllowedSenders != nil || s.MaxSize != nil || s.RateLimit != nil ||
		s.BrakeDuplicates != nil || s.BrakeRate != nil || s.Upstream != nil || s.UpstreamFallback != nil
}

// addBrakeFlags adds the brake thresholds, which only set takes.
func addBrakeFlags(fs *pflag.FlagSet, s *settingsOptions) {
	fs.Var(brakeFlag{&s.BrakeDuplicates}, "brake-duplicates",
		`runaway brake: hold its mail when one recipient gets the same content more than N times in 10 minutes (0: off; "default": relayd's)`)
	fs.Var(brakeFlag{&s.BrakeRate}, "brake-rate",
		`runaway brake: hold its mail when it sends more than N messages in 60 seconds (0: off; "default": relayd's)`)
}

// brakeFlag is a brake threshold: a whole number from 0, or "default".
// relayd refuses one over its upper bound (an invalid request: exit 2).
type brakeFlag struct{ p **string }

func (f brakeFlag) Type() string { return "N|default" }

func (f brakeFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return **f.p
}

func (f brakeFlag) Set(v string) error {
	if v != admin.BrakeDefault {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a whole number, 0 (off) or more, or %q, got %q", admin.BrakeDefault, v)
		}
	}
	*f.p = &v
	return nil
}

func (s settingsOptions) addRequest(name string) admin.AddCredentialRequest {
	req := admin.AddCredentialRequest{Name: name, Hold: s.Hold}
	if s.Description != nil {
		req.Description = *s.Description
	}
	if s.AllowedSenders != nil {
		req.AllowedSenders = *s.AllowedSenders
	}
	if s.MaxSize != nil {
		req.MaxMessageSize = *s.MaxSize
	}
	if s.RateLimit != nil {
		req.RateLimit = *s.RateLimit
	}
	if s.Upstream != nil && *s.Upstream != admin.UpstreamDefault {
		req.Upstream = *s.Upstream
	}
	if s.UpstreamFallback != nil && *s.UpstreamFallback != admin.UpstreamDefault {
		req.UpstreamFallback = *s.UpstreamFallback
	}
	return req
}

func (s settingsOptions) updateRequest(reason string) admin.UpdateCredentialRequest {
	return admin.UpdateCredentialRequest{Description: s.Description, Hold: s.Hold, AllowedSenders: s.AllowedSenders,
		MaxMessageSize: s.MaxSize, RateLimit: s.RateLimit, BrakeDuplicates: s.BrakeDuplicates, BrakeRate: s.BrakeRate,
		Upstream: s.Upstream, UpstreamFallback: s.UpstreamFallback, Reason: reason}
}

// textFlag is an optional string flag: nil unless given, so "not given"
// and "" differ.
type textFlag struct{ p **string }

func (f textFlag) Type() string { return "text" }

func (f textFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return **f.p
}

func (f textFlag) Set(v string) error {
	*f.p = &v
	return nil
}

// holdFlag is --hold: a duration, or "default".
type holdFlag struct{ p **string }

func (f holdFlag) Type() string { return "duration" }

func (f holdFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return **f.p
}

func (f holdFlag) Set(v string) error {
	if v == admin.HoldDefault {
		*f.p = &v
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want a duration such as 0s, 30s or 5m, or %q for relayd's --hold, got %q", admin.HoldDefault, v)
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	text := d.String()
	*f.p = &text
	return nil
}

// senderFlag collects --allow-sender values: repeated, comma-separated,
// or both.
type senderFlag struct{ p **[]string }

func (f senderFlag) Type() string { return "address" }

func (f senderFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strings.Join(**f.p, ",")
}

func (f senderFlag) Set(v string) error {
	if *f.p == nil {
		*f.p = &[]string{}
	}
	for a := range strings.SplitSeq(v, ",") {
		a = strings.TrimSpace(a)
		at := strings.LastIndexByte(a, '@')
		if at < 0 || at == len(a)-1 || strings.ContainsAny(a, " \t\r\n<>") {
			return fmt.Errorf("want an address (name@example.com) or a domain (@example.com), got %q", a)
		}
		**f.p = append(**f.p, a)
	}
	return nil
}

// sizeFlag is --max-size: "10MiB", "500KB", "1048576" or 0.
type sizeFlag struct{ p **int64 }

func (f sizeFlag) Type() string { return "size" }

func (f sizeFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.FormatInt(**f.p, 10)
}

func (f sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*f.p = &n
	return nil
}

// parseSize reads a size the way relayd's --max-message-size does, and
// 0 as well (relayd's limit alone).
func parseSize(s string) (int64, error) {
	n, err := size.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("want a size such as 10MiB, 500KB or 1048576 (0: relayd's limit alone), got %q", s)
	}
	return n, nil
}

// formatSize writes a size the way people give it: "10MiB", "1500 bytes".
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// countFlag is an optional count: a whole number, 0 or more.
type countFlag struct{ p **int }

func (f countFlag) Type() string { return "N" }

func (f countFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.Itoa(**f.p)
}

func (f countFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("want a whole number, got %q", v)
	}
	if n < 0 {
		return errors.New("must not be negative (0: no limit)")
	}
	*f.p = &n
	return nil
}
