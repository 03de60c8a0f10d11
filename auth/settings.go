package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Settings are a credential's own rules. Zero values mean "no restriction"
// (and a nil Hold, the relay's global hold window).
type Settings struct {
	Description    string
	Hold           *time.Duration
	AllowedSenders []string // addresses, or @domain for a whole domain
	MaxMessageSize int64
	RateLimit      int // messages per minute
	// Upstream and UpstreamFallback are URLs, "" for the global ones.
	// auth checks only that they are one printable line: the caller
	// checks them as relayd checks --upstream.
	Upstream         string
	UpstreamFallback string
	// Brake thresholds; nil = the global value, 0 = the trigger off.
	BrakeDuplicates *int
	BrakeRate       *int
}

// maxURL bounds an upstream URL.
const maxURL = 2048

// ErrInvalidSetting rejects a setting that could never work.
var ErrInvalidSetting = errors.New("auth: invalid setting")

// SettingsOf returns c's settings, for changing some and passing them to
// Update.
func SettingsOf(c Credential) Settings {
	return Settings{Description: c.Description, Hold: c.Hold, AllowedSenders: c.AllowedSenders,
		MaxMessageSize: c.MaxMessageSize, RateLimit: c.RateLimit,
		BrakeDuplicates: copyInt(c.BrakeDuplicates), BrakeRate: copyInt(c.BrakeRate),
		Upstream: c.Upstream, UpstreamFallback: c.UpstreamFallback}
}

func (set Settings) validate() error {
	switch {
	case set.Hold != nil && *set.Hold < 0:
		return fmt.Errorf("hold %v: %w", *set.Hold, ErrNegativeDuration)
	case set.MaxMessageSize < 0:
		return fmt.Errorf("max message size %d: %w", set.MaxMessageSize, ErrInvalidSetting)
	case set.RateLimit < 0:
		return fmt.Errorf("rate limit %d: %w", set.RateLimit, ErrInvalidSetting)
	case !brakeInRange(set.BrakeDuplicates, MaxBrakeDuplicates):
		return fmt.Errorf("brake duplicates %d: want 0 (off) to %d: %w", *set.BrakeDuplicates, MaxBrakeDuplicates, ErrInvalidSetting)
	case !brakeInRange(set.BrakeRate, MaxBrakeRate):
		return fmt.Errorf("brake rate %d: want 0 (off) to %d: %w", *set.BrakeRate, MaxBrakeRate, ErrInvalidSetting)
	case len(set.Description) > 256 || strings.ContainsFunc(set.Description, unicode.IsControl):
		return fmt.Errorf("description: at most 256 characters, no control characters: %w", ErrInvalidSetting)
	}
	for _, u := range []string{set.Upstream, set.UpstreamFallback} {
		if len(u) > maxURL || strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("upstream URL: at most %d bytes, no spaces or control characters: %w", maxURL, ErrInvalidSetting)
		}
	}
	for _, a := range set.AllowedSenders {
		if !validSenderPattern(a) {
			return fmt.Errorf("allowed sender %q: want an address or @domain: %w", a, ErrInvalidSetting)
		}
	}
	return nil
}

func brakeInRange(p *int, max int) bool { return p == nil || (*p >= 0 && *p <= max) }

func validSenderPattern(p string) bool {
	at := strings.LastIndexByte(p, '@')
	return at >= 0 && at < len(p)-1 && len(p) <= 254 && !strings.ContainsFunc(p, func(r rune) bool {
		return r <= ' ' || r == '<' || r == '>' || r == ','
	})
}

func (set Settings) apply(e *entry) {
	e.rec.Description = set.Description
	e.hold, e.rec.Hold = nil, ""
	if set.Hold != nil {
		d := *set.Hold
		e.hold, e.rec.Hold = &d, d.String()
	}
	e.rec.AllowedSenders = append([]string(nil), set.AllowedSenders...)
	e.rec.MaxMessageSize = set.MaxMessageSize
	e.rec.RateLimit = set.RateLimit
	e.rec.Upstream = set.Upstream
	e.rec.UpstreamFallback = set.UpstreamFallback
	e.rec.BrakeDuplicates, e.rec.BrakeRate = copyInt(set.BrakeDuplicates), copyInt(set.BrakeRate)
}

// Update replaces a credential's settings.
func (s *Service) Update(name string, set Settings) (Credential, error) {
	if err := set.validate(); err != nil {
		return Credential{}, fmt.Errorf("auth: set %q: %w", name, err)
	}
	if err := s.update(name, "set", set.apply); err != nil {
		return Credential{}, err
	}
	s.log.Info("credential settings changed", "credential", name)
	s.changed(name)
	c, _ := s.Get(name)
	return c, nil
}

// SenderAllowed reports whether c may send as addr: always, without
// allowed senders; else addr must equal one (case-insensitively) or end
// in one that is an @domain.
func (c Credential) SenderAllowed(addr string) bool {
	if len(c.AllowedSenders) == 0 {
		return true
	}
	for _, p := range c.AllowedSenders {
		if strings.HasPrefix(p, "@") {
			if len(addr) > len(p) && strings.EqualFold(addr[len(addr)-len(p):], p) {
				return true
			}
		} else if strings.EqualFold(addr, p) {
			return true
		}
	}
	return false
}
