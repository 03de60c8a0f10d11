package server

import (
	"errors"
	"fmt"
	"net/http"
)

// errDraining is why a server is not ready once Drain or Shutdown began.
var errDraining = errors.New("draining")

// Drain makes /readyz answer 503 from now on, while everything else is
// still served: relayd calls it as its shutdown begins, so that a load
// balancer stops sending work during the --shutdown-timeout its intake
// and deliveries may take to wind down. Shutdown drains too.
func (s *Server) Drain() { s.draining.Store(true) }

// Health returns the handler of GET /livez and GET /readyz. The server
// serves it on its own listeners, before and without the token check
// (and without a request log line, since probes come every few seconds);
// relayd serves it on its metrics listener as well.
//
// /livez answers 200 while the process serves. /readyz answers 200
// "ready" unless the server drains or Options.Ready returns an error,
// and then 503 "not ready: " and the error. Both bodies are one line of
// plain text, for curl and for probes that show what they read.
func (s *Server) Health() http.Handler { return s.health }

func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	// A pattern without a method is less specific than one with, so this
	// catches only the methods the probes do not serve.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (allowed: GET, HEAD)", r.Method, r.URL.Path))
	})
	return mux
}

// withHealth serves the probes' two paths with Health and everything
// else with api.
func (s *Server) withHealth(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/livez", s.health)
	mux.Handle("/readyz", s.health)
	mux.Handle("/", api)
	return mux
}

func (s *Server) ready() error {
	if s.draining.Load() {
		return errDraining
	}
	if s.o.Ready != nil {
		return s.o.Ready()
	}
	return nil
}

func writeText(w http.ResponseWriter, status int, line string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, line)
}
