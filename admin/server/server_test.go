package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

const (
	operatorSecret = "operator-secret-0123456789"
	supportSecret  = "support-secret-0123456789"
)

var tokens = []server.Token{
	{Name: "ops", Secret: operatorSecret, Role: server.RoleOperator},
	{Name: "helpdesk", Secret: supportSecret, Role: server.RoleSupport},
}

func client(t *testing.T, addr, token string) *admin.Client {
	t.Helper()
	c, err := admin.NewClient(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiError asserts that err is an *admin.APIError with status and code.
func apiError(t *testing.T, err error, status int, code string) *admin.APIError {
	t.Helper()
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *admin.APIError %d %s", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("error = %d %s %q, want %d %s", ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae
}

// raw sends a request over the unix socket without the typed client, to
// send what the client never would.
func raw(t *testing.T, r *servertest.Relay, method, path, body string) (*http.Response, string) {
	t.Helper()
	sock := strings.TrimPrefix(r.Socket, "unix:")
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequest(method, "http://relayd"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestStatesMatchSpool(t *testing.T) {
	var names []string
	for _, s := range spool.States {
		names = append(names, s.String())
	}
	if !slices.Equal(names, admin.States) {
		t.Errorf("admin.States = %v, spool.States = %v", admin.States, names)
	}
}

func TestStatus(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	r.Accept(t, "app")
	if _, _, err := r.Creds.Add("app", "", nil); err != nil {
		t.Fatal(err)
	}
	st, err := client(t, r.Socket, "").Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Counts) != len(admin.States) {
		t.Errorf("counts = %v, want every state", st.Counts)
	}
	for _, s := range admin.States {
		want := 0
		if s == "waiting" {
			want = 1
		}
		if n, ok := st.Counts[s]; !ok || n != want {
			t.Errorf("counts[%s] = %d, %v; want %d", s, n, ok, want)
		}
	}
	if st.Hold != "30s" || st.Upstream != "file:///var/spool/outbox" || st.Version != "test" || st.Credentials != 1 {
		t.Errorf("status = %+v", st)
	}
	if !st.Started.Equal(servertest.Now) {
		t.Errorf("started = %v, want %v", st.Started, servertest.Now)
	}
	if st.Pauses == nil || len(st.Pauses) != 0 {
		t.Errorf("pauses = %#v, want empty and not null", st.Pauses)
	}
}

func TestCredentials(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()

	list, err := c.Credentials(ctx)
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("Credentials on an empty relay = %#v, %v; want an empty list", list, err)
	}
	hold := "90s"
	got, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop", Description: "web shop", Hold: &hold})
	if err != nil {
		t.Fatal(err)
	}
	if got.Password == "" || got.Name != "shop" || got.Description != "web shop" ||
		got.Hold == nil || *got.Hold != "1m30s" || got.GraceUntil != nil || !got.Created.Equal(servertest.Now) {
		t.Errorf("created = %+v", got)
	}
	if _, err := r.Creds.Verify("shop", got.Password); err != nil {
		t.Errorf("the returned password does not log in: %v", err)
	}
	if strings.Contains(r.Log.String(), got.Password) {
		t.Errorf("the password is in the log:\n%s", r.Log)
	}
	if _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "app"}); err != nil {
		t.Fatal(err)
	}

	list, err = c.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "app" || list[0].Hold != nil || list[1].Name != "shop" {
		t.Errorf("list = %+v, want app (global hold) then shop", list)
	}
}

func TestAddCredentialRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	if _, err := c.AddCredential(t.Context(), admin.AddCredentialRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		req    admin.AddCredentialRequest
		status int
		code   string
		msg    string
	}{
		{"duplicate", admin.AddCredentialRequest{Name: "shop"}, 409, admin.CodeExists, `credential "shop" already exists`},
		{"bad name", admin.AddCredentialRequest{Name: "Shop!"}, 400, admin.CodeInvalid, `invalid credential name "Shop!"`},
		{"empty name", admin.AddCredentialRequest{}, 400, admin.CodeInvalid, `invalid credential name ""`},
		{"bad hold", admin.AddCredentialRequest{Name: "x", Hold: str("soon")}, 400, admin.CodeInvalid, `hold "soon"`},
		{"negative hold", admin.AddCredentialRequest{Name: "x", Hold: str("-1m")}, 400, admin.CodeInvalid, "must not be negative"},
		{"newline in description", admin.AddCredentialRequest{Name: "x", Description: "a\nb"}, 400, admin.CodeInvalid, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.AddCredential(t.Context(), tt.req)
			ae := apiError(t, err, tt.status, tt.code)
			if !strings.Contains(ae.Message, tt.msg) || strings.Contains(ae.Message, "auth:") {
				t.Errorf("message = %q, want it to say %q in the caller's terms", ae.Message, tt.msg)
			}
		})
	}
	if n := r.Creds.Len(); n != 1 {
		t.Errorf("%d credentials after refusals, want 1", n)
	}
}

func TestRequestBodies(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown field", `{"name":"x","pasword":"hunter2"}`, 400, admin.CodeInvalid},
		{"empty", ``, 400, admin.CodeInvalid},
		{"two objects", `{"name":"x"}{"name":"y"}`, 400, admin.CodeInvalid},
		{"not json", `name=x`, 400, admin.CodeInvalid},
		{"too large", `{"name":"x","description":"` + strings.Repeat("a", 2<<20) + `"}`, 413, admin.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := raw(t, r, "POST", "/v1/credentials", tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, `"code": "`+tt.code+`"`) {
				t.Errorf("%d %s, want %d with code %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	if n := r.Creds.Len(); n != 0 {
		t.Errorf("%d credentials after bad bodies, want 0", n)
	}
}

func TestRoutingErrors(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	resp, body := raw(t, r, "GET", "/v1/nothing", "")
	if resp.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("unknown path: %d %s", resp.StatusCode, body)
	}
	resp, body = raw(t, r, "DELETE", "/v1/credentials", "")
	if resp.StatusCode != 405 || !strings.Contains(body, `"method_not_allowed"`) || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("wrong method: %d Allow=%q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

func TestSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data", "admin.sock") // data/ does not exist yet

	l, tcp, err := server.Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if tcp {
		t.Error("Listen(unix:...) reports TCP")
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("mode of %s = %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	if _, _, err := server.Listen("unix:" + path); err == nil || !strings.Contains(err.Error(), "already answering") {
		t.Errorf("second Listen while the first answers: %v, want a refusal", err)
	}

	// A relayd killed with -9 leaves its socket file behind.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	l, _, err = server.Listen("unix:" + path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l.Close()

	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep me"), 0o600)
	if _, _, err := server.Listen("unix:" + file); err == nil {
		t.Error("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Errorf("regular file now holds %q", b)
	}
}

func TestUnreachableSocket(t *testing.T) {
	dir := t.TempDir()
	_, err := client(t, "unix:"+dir+"/admin.sock", "").Status(t.Context())
	if err == nil || !strings.Contains(err.Error(), "cannot reach relayd at unix:"+dir+"/admin.sock: is it running? (dial: ") {
		t.Errorf("error = %v", err)
	}
}

func TestTCPTokens(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	tests := []struct {
		name   string
		token  string
		post   bool
		status int // 0: success
		code   string
	}{
		{"no token", "", false, 401, admin.CodeUnauthorized},
		{"wrong token", "not-the-secret-at-all", false, 401, admin.CodeUnauthorized},
		{"token prefix", operatorSecret[:20], false, 401, admin.CodeUnauthorized},
		{"operator reads", operatorSecret, false, 0, ""},
		{"operator changes", operatorSecret, true, 0, ""},
		{"support reads", supportSecret, false, 0, ""},
		{"support cannot change", supportSecret, true, 403, admin.CodeForbidden},
		{"no token cannot change", "", true, 401, admin.CodeUnauthorized},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t, "http://"+r.TCP, tt.token)
			var err error
			if tt.post {
				_, err = c.AddCredential(t.Context(), admin.AddCredentialRequest{Name: "app" + string(rune('a'+i))})
			} else {
				_, err = c.Status(t.Context())
			}
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			apiError(t, err, tt.status, tt.code)
		})
	}
	if n := r.Creds.Len(); n != 1 {
		t.Errorf("%d credentials, want 1 (only the operator's)", n)
	}
	logs := r.Log.String()
	for _, want := range []string{"actor=token:ops", "actor=token:helpdesk", "actor=anonymous status=401"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, operatorSecret[:10]) || strings.Contains(logs, supportSecret[:10]) {
		t.Errorf("a token secret is in the log:\n%s", logs)
	}
}

func TestUnixActor(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	if _, err := client(t, r.Socket, "").Status(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := "actor=uid:" + strconv.Itoa(os.Getuid()); !strings.Contains(r.Log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, r.Log)
	}
}

func TestHandlerWithoutServeNeedsToken(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	w := httptest.NewRecorder()
	r.Server.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/v1/status", nil))
	if w.Code != 401 {
		t.Errorf("request outside Serve: %d, want 401", w.Code)
	}
}

func TestServeRefusesTCPWithoutGoodTokens(t *testing.T) {
	tests := map[string][]server.Token{
		"none":         nil,
		"short secret": {{Name: "a", Secret: "short", Role: server.RoleOperator}},
		"empty secret": {{Name: "a", Secret: "", Role: server.RoleOperator}},
		"bad role":     {{Name: "a", Secret: operatorSecret, Role: "admin"}},
		"shared secret": {
			{Name: "a", Secret: operatorSecret, Role: server.RoleOperator},
			{Name: "b", Secret: operatorSecret, Role: server.RoleSupport},
		},
	}
	for name, toks := range tests {
		t.Run(name, func(t *testing.T) {
			srv := server.New(server.Options{Tokens: toks})
			l, tcp, err := server.Listen("127.0.0.1:0")
			if err != nil || !tcp {
				t.Fatalf("Listen = %v, tcp %v", err, tcp)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(l, tcp) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Serve returned nil")
				}
			case <-time.After(5 * time.Second):
				srv.Shutdown(context.Background())
				t.Fatal("Serve started a TCP admin API without a usable token")
			}
			if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
				c.Close()
				t.Error("the refused listener still accepts connections")
			}
		})
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	srv := server.New(server.Options{})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, tcp, err := server.Listen("unix:" + filepath.Join(dir, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l, tcp); err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
}
