package mailapi

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay"
)

// Options configure a Server.
type Options struct {
	Intake *relay.Intake
	Clock  clock.Clock
	Log    *slog.Logger
	// TLS, when set, serves HTTPS (relayd's --tls-cert).
	TLS *tls.Config
}

// Server serves the Mail Send API on a listener of its own.
type Server struct {
	in    *relay.Intake
	clock clock.Clock
	log   *slog.Logger
	srv   *http.Server
	tls   bool
	auth  logins
}

// slack is what a request may hold beyond its base64-inflated messages:
// the JSON around them.
const slack = 1 << 20

// New builds the server.
func New(o Options) *Server {
	s := &Server{in: o.Intake, clock: o.Clock, log: o.Log, tls: o.TLS != nil}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/mail/send", s.handle(s.send))
	mux.HandleFunc("POST /v3/mail/batch", s.handle(s.createBatch))
	mux.HandleFunc("GET /v3/mail/batch/{batch_id}", s.handle(s.getBatch))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, fieldErr("", "relay serves POST /v3/mail/send and /v3/mail/batch here; the rest of SendGrid's API is not available"))
	})
	rt := o.Intake.ReadTimeout()
	s.srv = &http.Server{
		Handler:           mux,
		TLSConfig:         o.TLS,
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       rt,
		WriteTimeout:      rt + time.Minute, // reading the body, checking, spooling, answering
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve answers on l, within the intake's connection limits, until
// Shutdown.
func (s *Server) Serve(l net.Listener) error {
	l = s.in.LimitListener(l)
	var err error
	if s.tls {
		err = s.srv.ServeTLS(l, "", "")
	} else {
		err = s.srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits, until ctx ends, for the requests in
// flight: a request whose messages are being spooled gets its answer.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

// Handler is the API's handler, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// apiError is an answer other than success: a status and SendGrid's
// error entries.
type apiError struct {
	status int
	errs   []Error
	header map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.errs[0].Message) }

func fail(status int, field, msg string) *apiError {
	return &apiError{status: status, errs: []Error{fieldErr(field, msg)}}
}

// handle turns a handler's error into SendGrid's error body.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request, *caller) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r)
		if err == nil {
			err = h(w, r, c)
		}
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("mail api request failed", "path", r.URL.Path, "err", err)
			ae = fail(http.StatusServiceUnavailable, "", "relay could not take the request now; nothing of it was kept: try again later")
		}
		for k, v := range ae.header {
			w.Header().Set(k, v)
		}
		writeErrors(w, ae.status, ae.errs...)
	}
}

func writeErrors(w http.ResponseWriter, status int, errs ...Error) {
	writeJSON(w, status, errorBody{Errors: errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// caller is the credential a request's API key logged in as.
type caller struct {
	cred   auth.Credential
	login  auth.Login
	remote netip.Addr
}

var errBadKey = fail(http.StatusUnauthorized, "", "The provided authorization grant is invalid, expired, or revoked")

// authenticate checks the API key as SMTP AUTH checks a password: the
// same throttle, the same cache, TLS unless loopback or --insecure-auth.
// The key is never logged.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	remote := remoteAddr(r)
	if r.TLS == nil && !s.in.ClearAuthAllowed(remote) {
		return nil, fail(http.StatusForbidden, "", "API keys are taken only over TLS, or from loopback")
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, fail(http.StatusUnauthorized, "", "Authorization: Bearer <API key> is required")
	}
	name, password, ok := auth.ParseAPIKey(strings.TrimSpace(key))
	if !ok {
		return nil, errBadKey
	}
	cred, login, err := s.auth.check(name, password, remote, s.in.Login)
	switch {
	case errors.Is(err, relay.ErrLoginThrottled):
		e := fail(http.StatusTooManyRequests, "", "Too many failed logins; try again later")
		e.header = map[string]string{"Retry-After": "900"}
		return nil, e
	case err != nil:
		return nil, errBadKey
	}
	return &caller{cred: cred, login: login, remote: remote}, nil
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// readBody reads a request body of at most limit bytes, 413 beyond;
// gzip-compressed (as SendGrid's clients may send it) with the same
// bound on what it inflates to.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	var in io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "", "the request body is not valid gzip")
		}
		in = io.LimitReader(zr, limit+1)
	default:
		return nil, fail(http.StatusUnsupportedMediaType, "", "Content-Encoding "+clip(enc)+" is not supported (gzip is)")
	}
	body, err := io.ReadAll(in)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), int64(len(body)) > limit:
		return nil, tooLarge(limit)
	case err != nil:
		return nil, fail(http.StatusBadRequest, "", "the request body could not be read")
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return fail(http.StatusRequestEntityTooLarge, "", "The request is larger than relay takes ("+strconv.FormatInt(limit, 10)+" bytes).")
}
