package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/holdrelay/relay/admin"
)

// handlerFunc is an admin handler: it writes a success itself and returns
// any failure for writeError to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access says which roles may call a route. The unix socket's caller is
// always an operator.
type access int

const (
	readOnly     access = iota // operator and support
	operatorOnly               // changes: operator only
)

// routes lists the API. A new endpoint is one line here and one handler.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	methods := make(map[string][]string) // path -> methods, for 405's Allow
	handle := func(method, path string, a access, h handlerFunc) {
		mux.Handle(method+" "+path, s.wrap(a, h))
		methods[path] = append(methods[path], method)
	}

	handle(http.MethodGet, "/v1/status", readOnly, s.getStatus)
	handle(http.MethodGet, "/v1/credentials", readOnly, s.listCredentials)
	handle(http.MethodPost, "/v1/credentials", operatorOnly, s.addCredential)

	// A pattern without a method is less specific than one with, so these
	// catch only the methods a path does not serve.
	for path, ms := range methods {
		slices.Sort(ms)
		mux.Handle(path, s.wrap(readOnly, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", strings.Join(ms, ", "))
			return &apiError{status: http.StatusMethodNotAllowed, code: admin.CodeMethodNotAllowed,
				msg: fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(ms, ", "))}
		}))
	}
	mux.Handle("/", s.wrap(readOnly, func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, code: admin.CodeNotFound,
			msg: fmt.Sprintf("no such endpoint: %s (is relayctl newer than relayd?)", r.URL.Path)}
	}))
	return mux
}

// wrap checks the caller's role against a, runs h, and answers its error.
func (s *Server) wrap(a access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := callerOf(r); a == operatorOnly && c.role != RoleOperator {
			s.writeError(w, r, &apiError{status: http.StatusForbidden, code: admin.CodeForbidden,
				msg: fmt.Sprintf("%s %s needs the %s role; this token has %s", r.Method, r.URL.Path, RoleOperator, c.role)})
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
