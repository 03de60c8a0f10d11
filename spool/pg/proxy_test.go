package pg

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	neturl "net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// proxy stands between the driver and PostgreSQL, reading the protocol's
// messages: it counts round trips, and can break a connection at a
// COMMIT, before it reaches the server or after the server answered.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	// syncs counts Sync and Query messages: the driver's round trips.
	syncs atomic.Int64
	// breakBefore: the next COMMIT is not forwarded, and its connection
	// is broken. breakAfter: the answer to the next COMMIT is not
	// forwarded, and its connection is broken.
	breakBefore, breakAfter atomic.Bool
	mu                      sync.Mutex
	conns                   []net.Conn
}

// newProxy starts a proxy to the database at url and returns it with the
// URL that reaches the database through it.
func newProxy(t *testing.T, url string) (*proxy, string) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5432"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))}
	t.Cleanup(p.close)
	go p.serve()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("host", dir)
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return p, u.String()
}

// close stops the proxy and breaks every connection through it: the
// database is down.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		pc := &proxyConn{p: p, client: c, server: s}
		go pc.up()
		go pc.down()
	}
}

type proxyConn struct {
	p              *proxy
	client, server net.Conn
	commitStmt     atomic.Value // the name pgx prepared COMMIT under
	committing     atomic.Bool  // a COMMIT was forwarded, its answer not yet
}

func (pc *proxyConn) kill() {
	pc.client.Close()
	pc.server.Close()
}

// up forwards the client's messages, the first of which (the startup
// message) has no type byte.
func (pc *proxyConn) up() {
	defer pc.kill()
	r := bufio.NewReader(pc.client)
	typed := false
	for {
		raw, err := readMsg(r, typed)
		if err != nil {
			return
		}
		if typed && pc.isCommit(raw) {
			if pc.p.breakBefore.CompareAndSwap(true, false) {
				return
			}
			pc.committing.Store(true)
		}
		if typed && (raw[0] == 'S' || raw[0] == 'Q') {
			pc.p.syncs.Add(1)
		}
		typed = true
		if _, err := pc.server.Write(raw); err != nil {
			return
		}
	}
}

// isCommit: the message runs COMMIT (a Parse of it is remembered).
func (pc *proxyConn) isCommit(raw []byte) bool {
	body := raw[5:]
	switch raw[0] {
	case 'Q':
		return bytes.EqualFold(bytes.TrimRight(body, "\x00; "), []byte("commit"))
	case 'P':
		name, rest, _ := bytes.Cut(body, []byte{0})
		query, _, _ := bytes.Cut(rest, []byte{0})
		if bytes.EqualFold(query, []byte("commit")) {
			pc.commitStmt.Store(string(name))
		}
	case 'B':
		_, rest, _ := bytes.Cut(body, []byte{0})
		stmt, _, _ := bytes.Cut(rest, []byte{0})
		name, ok := pc.commitStmt.Load().(string)
		return ok && string(stmt) == name
	}
	return false
}

// down forwards the server's messages.
func (pc *proxyConn) down() {
	defer pc.kill()
	r := bufio.NewReader(pc.server)
	for {
		raw, err := readMsg(r, true)
		if err != nil {
			return
		}
		if raw[0] == 'Z' && pc.committing.CompareAndSwap(true, false) && pc.p.breakAfter.CompareAndSwap(true, false) {
			return
		}
		if _, err := pc.client.Write(raw); err != nil {
			return
		}
	}
}

// readMsg reads one protocol message whole: type byte (if typed),
// length, body.
func readMsg(r *bufio.Reader, typed bool) ([]byte, error) {
	head := 4
	if typed {
		head = 5
	}
	raw := make([]byte, head)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(raw[head-4:])) - 4
	if n < 0 {
		return nil, io.ErrUnexpectedEOF
	}
	raw = append(raw, make([]byte, n)...)
	_, err := io.ReadFull(r, raw[head:])
	return raw, err
}
