package server

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// Webhooks is the part of relayd's webhook.Manager the admin API drives,
// so that an added webhook gets its events without a restart.
type Webhooks interface {
	Add(webhook.Endpoint) error
	Remove(name string)
	Status(name string) (webhook.Status, bool)
}

// Endpoint converts a stored webhook for the sender. relayd's start-up
// uses it too, so that both read what the spool stores the same way.
func Endpoint(w spool.Webhook) (webhook.Endpoint, error) {
	ep := webhook.Endpoint{Name: w.Name, URL: w.URL, Format: w.Format, Events: slices.Clone(w.Events),
		Secret: w.Secret, Disabled: w.Disabled}
	if w.Format != webhook.FormatSendGrid {
		return ep, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(w.PrivateKey)
	if err != nil {
		return ep, fmt.Errorf("webhook %s: signing key: %w", w.Name, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return ep, fmt.Errorf("webhook %s: signing key is a %T, want ECDSA", w.Name, k)
	}
	ep.PrivateKey = key
	return ep, nil
}

// listWebhooks answers GET /v1/webhooks, sorted by name.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.o.Spool.Webhooks()
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	last, err := s.o.Spool.LastEventSeq()
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	out := make([]admin.Webhook, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, s.wireWebhook(h, last))
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// getWebhook answers GET /v1/webhooks/{name}.
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	h, err := s.o.Spool.Webhook(name)
	if err != nil {
		return webhookError(name, err)
	}
	last, err := s.o.Spool.LastEventSeq()
	if err != nil {
		return fmt.Errorf("webhook %s: %w", name, err)
	}
	s.writeJSON(w, http.StatusOK, s.wireWebhook(h, last))
	return nil
}

// addWebhook answers POST /v1/webhooks with 201 and the signing secret or
// public key, which no other answer, log line or audit entry carries.
func (s *Server) addWebhook(w http.ResponseWriter, r *http.Request) error {
	var req admin.AddWebhookRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Format == "" {
		req.Format = webhook.FormatStandard
	}
	stored, shown, err := s.newWebhook(req, callerOf(r).actor)
	if err != nil {
		return err
	}
	ep, err := Endpoint(stored)
	if err != nil {
		return err
	}
	if err := ep.Validate(); err != nil {
		return invalid("%v", err)
	}
	if s.pointsAtAdmin(req.URL) {
		return invalid("webhook url points at this relayd's own admin API")
	}
	defer s.hookLocks.lock(req.Name)()
	rec := s.webhookAudit("webhook add", r, req.Name, webhookDetail(stored))
	stored, err = s.o.Spool.AddWebhook(stored, rec)
	if errors.Is(err, spool.ErrExists) {
		return &apiError{status: http.StatusConflict, code: admin.CodeExists, msg: fmt.Sprintf("webhook %q already exists", req.Name), err: err}
	}
	if err != nil {
		return fmt.Errorf("webhook %s: %w", req.Name, err)
	}
	s.startWebhook(ep)
	out := admin.WebhookCreated{Webhook: s.wireWebhook(stored, stored.Cursor)}
	if stored.Format == webhook.FormatSendGrid {
		out.PublicKey = shown
	} else {
		out.Secret = shown
	}
	s.writeJSON(w, http.StatusCreated, out)
	return nil
}

// newWebhook makes the webhook req asks for, with a fresh signing secret
// or key, and what of it the operator is shown once.
func (s *Server) newWebhook(req admin.AddWebhookRequest, actor string) (spool.Webhook, string, error) {
	if !auth.ValidName(req.Name) {
		return spool.Webhook{}, "", invalid("invalid webhook name %q: use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", req.Name)
	}
	h := spool.Webhook{Name: req.Name, URL: req.URL, Format: req.Format, Events: req.Events,
		Created: s.now().UTC(), CreatedBy: actor}
	switch req.Format {
	case webhook.FormatStandard:
		key, shown := webhook.NewSecret()
		h.Secret = key
		return h, shown, nil
	case webhook.FormatSendGrid:
		key, shown, err := webhook.NewKey()
		if err != nil {
			return h, "", err
		}
		if h.PrivateKey, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
			return h, "", fmt.Errorf("webhook key: %w", err)
		}
		return h, shown, nil
	}
	return h, "", invalid("unknown webhook format %q (want %s or %s)", req.Format, webhook.FormatStandard, webhook.FormatSendGrid)
}

// startWebhook hands a stored webhook to the running sender. The webhook
// is stored already: a failure here is relayd's to log, and the webhook
// starts with relayd's next start.
func (s *Server) startWebhook(ep webhook.Endpoint) {
	if s.o.Webhooks == nil {
		return
	}
	if err := s.o.Webhooks.Add(ep); err != nil {
		s.log.Error("webhook not started", "webhook", ep.Name, "err", err)
	}
}

// removeWebhook answers DELETE /v1/webhooks/{name}. Its sender stops
// after the removal is durable, so a webhook is never left without a
// sender while it still exists.
func (s *Server) removeWebhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	defer s.hookLocks.lock(name)()
	if err := s.o.Spool.RemoveWebhook(name, s.webhookAudit("webhook rm", r, name, "")); err != nil {
		return webhookError(name, err)
	}
	if s.o.Webhooks != nil {
		s.o.Webhooks.Remove(name)
	}
	s.writeJSON(w, http.StatusOK, admin.WebhookRemoved{Name: name})
	return nil
}

// testWebhook answers POST /v1/webhooks/{name}/test: a webhook.test event
// for that webhook alone, written like any other event, so that it
// travels the whole way the others do.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	ev, err := s.o.Spool.TestWebhook(name, s.webhookAudit("webhook test", r, name, ""))
	if err != nil {
		return webhookError(name, err)
	}
	s.writeJSON(w, http.StatusOK, admin.WebhookTested{Name: name, Event: wireEvent(ev)})
	return nil
}

func (s *Server) webhookAudit(action string, r *http.Request, name, detail string) *spool.AuditEntry {
	return &spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor, Action: action,
		Selector: "webhook=" + name, Detail: detail}
}

// webhookDetail is what the audit log says of a new webhook: never its
// secret, nor a password in its URL.
func webhookDetail(h spool.Webhook) string {
	events := "all"
	if len(h.Events) > 0 {
		events = strings.Join(h.Events, ",")
	}
	return fmt.Sprintf("url=%s format=%s events=%s", redactURL(h.URL), h.Format, events)
}

// redactURL hides the password of a URL's user info and the values of
// its query, where webhook URLs commonly carry a token; the keys stay, so
// that the operator can tell URLs apart.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)" // stored URLs were validated: never seen
	}
	if u.RawQuery != "" {
		q := u.Query()
		for _, vs := range q {
			for i := range vs {
				if vs[i] != "" {
					vs[i] = "xxxxx"
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func webhookError(name string, err error) error {
	if errors.Is(err, spool.ErrNotFound) {
		return notFound("no webhook %q", name)
	}
	return fmt.Errorf("webhook %s: %w", name, err)
}

// wireWebhook converts a stored webhook for the API, with its backlog as
// of the outbox's last event and what its sender knows.
func (s *Server) wireWebhook(h spool.Webhook, lastEvent uint64) admin.Webhook {
	out := admin.Webhook{Name: h.Name, URL: redactURL(h.URL), Format: h.Format, Events: slices.Clone(h.Events),
		Disabled: h.Disabled, DisabledReason: h.DisabledReason, Created: h.Created, CreatedBy: h.CreatedBy}
	if out.Events == nil {
		out.Events = []string{}
	}
	if lastEvent > h.Cursor {
		out.Backlog = lastEvent - h.Cursor
	}
	if s.o.Webhooks == nil {
		return out
	}
	st, ok := s.o.Webhooks.Status(h.Name)
	if !ok {
		return out
	}
	// The sender's cursor runs ahead of the stored one, which it saves
	// after each batch.
	if lastEvent > st.Cursor && st.Cursor > h.Cursor {
		out.Backlog = lastEvent - st.Cursor
	}
	out.LastSuccess, out.LastErrorAt, out.NextAttempt = timePtr(st.LastSuccess), timePtr(st.LastErrorAt), timePtr(st.NextAttempt)
	out.LastError, out.Failures = st.LastError, st.Failures
	if st.Disabled != "" {
		out.Disabled, out.DisabledReason = true, st.Disabled
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// pointsAtAdmin reports whether a webhook URL names one of the TCP
// addresses this server listens on: relayd would post its events into
// its own admin API. Host names other than localhost are not resolved;
// the guard is against a slip, not a determined operator.
func (s *Server) pointsAtAdmin(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	s.mu.Lock()
	addrs := slices.Clone(s.tcpAddrs)
	s.mu.Unlock()
	for _, a := range addrs {
		if strconv.Itoa(a.Port) == port && sameHost(u.Hostname(), a.IP) {
			return true
		}
	}
	return false
}

// sameHost reports whether host reaches a listener on ip.
func sameHost(host string, ip net.IP) bool {
	if strings.EqualFold(host, "localhost") {
		return ip.IsLoopback() || ip.IsUnspecified()
	}
	target := net.ParseIP(host)
	switch {
	case target == nil:
		return false
	case !ip.IsUnspecified():
		return target.Equal(ip)
	}
	return target.IsLoopback() || target.IsUnspecified() || isLocalIP(target)
}

// isLocalIP reports whether ip is one of this machine's addresses.
func isLocalIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
