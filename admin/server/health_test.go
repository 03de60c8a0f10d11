package server_test

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// get sends a request without a token to the TCP listener.
func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHealthWithoutToken(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	base := "http://" + r.TCP
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/livez", 200, "ok\n"},
		{"GET", "/readyz", 200, "ready\n"},
		{"HEAD", "/readyz", 200, ""},
		{"POST", "/readyz", 405, "POST /readyz: method not allowed (allowed: GET, HEAD)\n"},
	} {
		status, body := get(t, tc.method, base+tc.path)
		if status != tc.status || body != tc.body {
			t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
	}
	// Everything else still needs a token.
	for _, path := range []string{"/v1/status", "/livez/", "/readyz/x", "/v1/messages"} {
		if status, _ := get(t, "GET", base+path); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d, want 401", path, status)
		}
	}
	_, err := client(t, r.TCP, "").Status(t.Context())
	apiError(t, err, http.StatusUnauthorized, admin.CodeUnauthorized)
}

func TestHealthOnTheSocket(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	for path, want := range map[string]string{"/livez": "ok\n", "/readyz": "ready\n"} {
		if resp, body := raw(t, r, "GET", path, ""); resp.StatusCode != 200 || body != want {
			t.Errorf("GET %s on the socket = %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
}

func TestReadyzDraining(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	base := "http://" + r.TCP
	if status, _ := get(t, "GET", base+"/readyz"); status != 200 {
		t.Fatalf("GET /readyz before draining = %d, want 200", status)
	}
	r.Server.Drain()
	if status, body := get(t, "GET", base+"/readyz"); status != 503 || body != "not ready: draining\n" {
		t.Errorf("GET /readyz while draining = %d %q, want 503 %q", status, body, "not ready: draining\n")
	}
	// Still alive, and the API still answers while in-flight work winds down.
	if status, _ := get(t, "GET", base+"/livez"); status != 200 {
		t.Errorf("GET /livez while draining = %d, want 200", status)
	}
	if _, err := client(t, r.TCP, operatorSecret).Status(t.Context()); err != nil {
		t.Errorf("status while draining: %v", err)
	}
}

func TestReadyzAsksTheHook(t *testing.T) {
	var notReady atomic.Pointer[error]
	r := servertest.Start(t, servertest.Options{Tokens: tokens, Ready: func() error {
		if err := notReady.Load(); err != nil {
			return *err
		}
		return nil
	}})
	url := "http://" + r.TCP + "/readyz"
	if status, _ := get(t, "GET", url); status != 200 {
		t.Fatalf("GET /readyz = %d, want 200", status)
	}
	err := errors.New("starting")
	notReady.Store(&err)
	if status, body := get(t, "GET", url); status != 503 || body != "not ready: starting\n" {
		t.Errorf("GET /readyz = %d %q, want 503 %q", status, body, "not ready: starting\n")
	}
	notReady.Store(nil)
	if status, _ := get(t, "GET", url); status != 200 {
		t.Errorf("GET /readyz once the hook is happy = %d, want 200", status)
	}
}
