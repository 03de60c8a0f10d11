package server

import (
	"errors"
	"net/url"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
)

// upstreamSetting reads an upstream URL of a credential change:
// admin.UpstreamDefault (or "") gives the global one back.
func upstreamSetting(v string) string {
	if v == admin.UpstreamDefault {
		return ""
	}
	return v
}

// checkRoute refuses a credential's upstream URL that relayd would refuse
// as --upstream, with the same words (which never repeat the URL: it may
// hold a password).
func (s *Server) checkRoute(set auth.Settings) error {
	for _, p := range []struct{ field, url string }{
		{"upstream", set.Upstream}, {"upstream fallback", set.UpstreamFallback},
	} {
		if p.url == "" {
			continue
		}
		if err := s.checkUpstream(p.url); err != nil {
			return invalid("%s URL: %s", p.field, strings.TrimPrefix(err.Error(), "upstream URL: "))
		}
	}
	return nil
}

// checkUpstream is Options.CheckUpstream, or, without one, a check that
// the URL parses and names a scheme.
func (s *Server) checkUpstream(raw string) error {
	if s.o.CheckUpstream != nil {
		return s.o.CheckUpstream(raw)
	}
	if u, err := url.Parse(raw); err != nil || u.Scheme == "" {
		return errUpstreamURL
	}
	return nil
}

var errUpstreamURL = errors.New("upstream URL: not a URL with a scheme")

// redactUpstream hides the password of an upstream URL; "" stays "".
func redactUpstream(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)" // stored URLs were checked: never seen
	}
	return u.Redacted()
}

// routeText is an upstream setting for the audit log.
func routeText(raw string) string {
	if raw == "" {
		return admin.UpstreamDefault
	}
	return redactUpstream(raw)
}

// routes lists the credentials with an upstream of their own.
func (s *Server) credentialRoutes() []admin.Route {
	out := []admin.Route{}
	for _, c := range s.o.Creds.List() {
		if c.Upstream != "" || c.UpstreamFallback != "" {
			out = append(out, admin.Route{Credential: c.Name,
				Upstream: redactUpstream(c.Upstream), UpstreamFallback: redactUpstream(c.UpstreamFallback)})
		}
	}
	return out
}
