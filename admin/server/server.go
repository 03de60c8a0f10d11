// Package server serves relayd's admin API over HTTP; package admin holds
// its wire types and the client. It owns no state: every answer is read
// from, and every change made through, the spool and the credential
// service it is given.
//
// Invariants:
//   - On a TCP listener every request needs a bearer token, compared in
//     constant time; Serve refuses a TCP listener when no token is
//     configured (guarantee 6 of the contract), and SetTokens never leaves
//     one without a token. CheckTokens is the one rule for tokens; the set
//     in force is swapped whole, so a request sees the old set or the new
//     one. The health probes, GET /livez and /readyz, are the only
//     exception: they tell whether relayd is alive and ready, and nothing
//     else.
//   - The unix socket is mode 0600, and a peer whose uid is neither
//     relayd's nor root's is refused as well, which also closes the moment
//     between creating the socket and changing its mode.
//   - Handlers return errors; writeError alone turns an error into a
//     status, a code and a JSON body, and logs the details of a 500.
//   - Request bodies are never logged, so no password is: a created or
//     rotated password exists only in its one response, and no error or
//     audit entry carries one.
//   - Every change but a dry run is written to the spool's audit log,
//     with its actor, after it is made; reads and refusals are not.
//   - A drop, a hold or a credential's disable answers only once each
//     message it caught being sent is aborted or delivered (guarantee
//     3): it waits on Dispatcher.Abort, past the usual write timeout.
//   - Changes to one credential run one at a time, in the order that
//     lets nothing it sends slip through (see disableCredential).
//   - Relative selectors (older/newer than) and event times use Now,
//     relayd's clock, never the client's.
//   - A webhook's signing secret or key leaves relayd once, in the answer
//     to its add: no read, log line or audit entry carries it, nor a
//     password in its URL. A webhook is stored (with its audit entry)
//     before its sender starts, and its sender stops after its removal
//     is stored.
//   - A DKIM private key is made in relayd and never leaves it: the API
//     shows only the public DNS record. A key change is stored (with its
//     audit entry and event) before the signing keyring is reloaded.
//   - An event stream that follows ends when its client leaves or when
//     Shutdown begins, so that it never holds Shutdown up.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/spool"
)

// Token lets a TCP client in. Role is RoleOperator or RoleSupport.
type Token struct {
	Name   string // shown in logs as the actor; never the secret
	Secret string
	Role   string
}

// Roles. Support staff may read everything and hold, drop and purge
// messages; the rest (flush, release, pause, resume, credentials) is the
// operator's.
const (
	RoleOperator = "operator"
	RoleSupport  = "support"
)

// minSecret is the shortest token secret CheckTokens accepts: a short
// secret would make guarantee 6 a formality.
const minSecret = 16

// Options configure a Server.
type Options struct {
	Spool      *spool.Spool
	Creds      *auth.Service
	Dispatcher Dispatcher    // nil: nothing is ever in flight (tests, tools)
	Hold       time.Duration // the global hold window, for status
	Upstream   string        // already stripped of secrets
	// UpstreamFallback is --upstream-fallback, stripped of secrets; "":
	// none.
	UpstreamFallback string
	// CheckUpstream checks a credential's upstream URL as relayd checks
	// --upstream; its error must not repeat the URL. Nil: any URL that
	// parses with a scheme.
	CheckUpstream func(rawURL string) error
	Version       string
	Tokens        []Token          // required on TCP listeners; ignored on the unix socket; see SetTokens
	Now           func() time.Time // relayd's clock, for events and relative selectors; nil = time.Now
	Webhooks      Webhooks         // relayd's running webhook senders; nil: none to tell (tests, tools)
	// DKIM is the keyring relayd signs with: reloaded from the spool
	// after each key is added or removed. Nil: keys are stored only.
	DKIM *dkim.Keyring
	Log  *slog.Logger // nil = slog.Default()
	// Ready, if set, says what else keeps relayd from being ready (still
	// starting, a spool it cannot write): nil is ready. /readyz calls it
	// on every request, without a token, and shows its error: it must be
	// cheap, and its error short and free of secrets and paths. Nil:
	// ready whenever the server is not draining.
	Ready func() error
	// Brake is relayd's global brake thresholds, for status.
	Brake BrakeDefaults
	// BrakeReset, if set, forgets a credential's brake counters in the
	// intake once its brake is released, so the brake re-arms afresh.
	BrakeReset func(cred string)
	// Node is this relayd's --node-name, for status on a spool of one
	// node (a shared spool lists its nodes itself).
	Node string
}

// BrakeDefaults are relayd's --brake-duplicates and --brake-rate.
type BrakeDefaults struct{ Duplicates, Rate int }

// Dispatcher is the part of relayd's dispatcher the admin API drives.
type Dispatcher interface {
	// Notify wakes it: something is due now (a flush, a release, a
	// pause that changed what it may claim or when a pause ends).
	Notify(release time.Time)
	// Abort cancels these deliveries in flight and waits until each
	// outcome is recorded in the spool.
	Abort(ctx context.Context, ids []spool.ID) error
}

// idle is the Dispatcher of a Server without one: nothing to wake,
// nothing in flight to wait for.
type idle struct{}

func (idle) Notify(time.Time)                        {}
func (idle) Abort(context.Context, []spool.ID) error { return nil }

// Timeouts of every admin connection: the API answers from memory and the
// spool's indexes, so a slow client is a stuck or hostile one. Two kinds
// of answer may take longer and extend their own write deadline (see
// slow): a drop or hold, which waits for deliveries in flight, and a raw
// body.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

var (
	writeTimeout = 60 * time.Second
	// abortTimeout bounds how long a drop or hold waits for the
	// deliveries it interrupts. The dispatcher already gives up on a
	// transfer past its dot after 10 s (the message is then reported in
	// flight); what is left to wait for is an outcome being written,
	// which retries while the disk is full.
	abortTimeout = 10 * time.Minute
	// slowWriteTimeout is the write deadline of slow answers.
	slowWriteTimeout = abortTimeout + time.Minute
)

// Server is the admin API. One Server may Serve several listeners (the
// socket and a TCP address) at once.
type Server struct {
	o       Options
	now     func() time.Time
	log     *slog.Logger
	started time.Time
	tokens  atomic.Pointer[tokenSet] // see SetTokens
	runtime atomic.Pointer[tokenSet] // relayctl token add's, from the spool; see loadRuntimeTokens
	// runtimeMu orders the loads of runtime.
	runtimeMu sync.Mutex
	// routesHandler is the API's routes without authentication, for As.
	routesHandler http.Handler
	consoleURL    atomic.Pointer[string] // see SetConsoleURL
	handler       http.Handler
	health        http.Handler

	draining atomic.Bool // see Drain

	// credLocks orders the changes to each credential, hookLocks those
	// to each webhook.
	credLocks keyedLocks
	hookLocks keyedLocks
	// dkimMu orders key changes and the keyring reloads after them, so
	// that a reload never puts back a key a later removal took out.
	dkimMu sync.Mutex

	mu        sync.Mutex
	closed    bool
	servers   map[*http.Server]struct{}
	tcpAddrs  []*net.TCPAddr // where Serve listens on TCP, for the webhooks' loop guard
	servesTCP bool           // Serve took a TCP listener: SetTokens must leave a token
	// done is closed by Shutdown: it ends the event streams that follow,
	// which would otherwise keep Shutdown waiting until its deadline.
	done chan struct{}
}

// New returns a Server. It does not check Tokens: Serve does, for TCP,
// and SetTokens replaces them.
func New(o Options) *Server {
	s := &Server{o: o, now: o.Now, log: o.Log, servers: make(map[*http.Server]struct{}), done: make(chan struct{})}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.o.Dispatcher == nil {
		s.o.Dispatcher = idle{}
	}
	s.started = s.now().Round(0).UTC()
	s.tokens.Store(newTokenSet(o.Tokens))
	s.health = s.healthHandler()
	if err := s.loadRuntimeTokens(); err != nil {
		s.log.Error("runtime admin tokens unreadable: only --admin-tokens work", "err", err)
	}
	s.routesHandler = s.routes()
	s.handler = s.withHealth(s.authenticate(s.routesHandler))
	return s
}

// Handler returns the API as a plain handler. A request that did not come
// through Serve counts as TCP: it needs a token.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on l until Shutdown, then returns nil. tcp says
// whether l is a TCP listener (Listen reports it); a TCP listener without
// valid tokens is refused. Serve always closes l.
func (s *Server) Serve(l net.Listener, tcp bool) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return withPeer(ctx, c, tcp)
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	// Under mu, so that SetTokens cannot leave this listener without one.
	if tcp {
		if err := CheckTokens(s.tokens.Load().list, true); err != nil {
			s.mu.Unlock()
			l.Close()
			return fmt.Errorf("admin API on TCP %s: %w", l.Addr(), err)
		}
		s.servesTCP = true
	}
	s.servers[hs] = struct{}{}
	if a, ok := l.Addr().(*net.TCPAddr); ok && tcp {
		s.tcpAddrs = append(s.tcpAddrs, a)
	}
	s.mu.Unlock()

	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops every listener, waits for requests in flight until ctx
// ends, then closes their connections. Serve calls made later return nil
// at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	servers := make([]*http.Server, 0, len(s.servers))
	for hs := range s.servers {
		servers = append(servers, hs)
	}
	s.mu.Unlock()

	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
