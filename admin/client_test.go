package admin_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
)

// TestClientErrors checks how answers that are not 2xx reach callers: an
// Error body keeps its code and message; anything else (say, another
// program on that port) still becomes an *APIError with the status.
func TestClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer s3cret" {
			t.Errorf("Authorization = %q", got)
		}
		if r.URL.Path == "/v1/status" {
			http.Error(w, "<html>proxy error</html>", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"not_found","message":"no such credential","extra":1}}`))
	}))
	defer srv.Close()
	c, err := admin.NewClient(srv.URL, "s3cret")
	if err != nil {
		t.Fatal(err)
	}

	_, err = c.Credentials(t.Context())
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != admin.CodeNotFound || err.Error() != "no such credential" {
		t.Errorf("JSON error = %#v", err)
	}
	_, err = c.Status(t.Context())
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "" || !strings.Contains(err.Error(), "502") {
		t.Errorf("non-JSON error = %#v", err)
	}
}

// TestClientIgnoresNewFields keeps an older relayctl working with a newer
// relayd that answers more than it knows.
func TestClientIgnoresNewFields(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"version":"9.9","hold":"30s","from_the_future":true}`))
	}))
	defer srv.Close()
	c, err := admin.NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context())
	if err != nil || st.Version != "9.9" || st.Hold != "30s" {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

// TestCountsOnlyWithAnOlderRelayd: a relayd that predates counts_only
// refuses it as an unknown field, changing nothing; the client asks
// again without it, once, and the action goes through.
func TestCountsOnlyWithAnOlderRelayd(t *testing.T) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, string(b))
		if strings.Contains(string(b), "counts_only") {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"invalid","message":"bad request body: json: unknown field \"counts_only\""}}`))
			return
		}
		w.Write([]byte(`{"action":"hold","counts":{"changed":2},"ids":{"changed":["A","B"]}}`))
	}))
	defer srv.Close()
	c, err := admin.NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Hold(t.Context(), admin.ActionRequest{Selector: admin.Selector{All: true}, CountsOnly: true})
	if err != nil || res.Counts["changed"] != 2 {
		t.Fatalf("hold against an older relayd: %+v, %v", res, err)
	}
	if len(calls) != 2 {
		t.Fatalf("%d requests, want the refused one and one without counts_only: %q", len(calls), calls)
	}
}
