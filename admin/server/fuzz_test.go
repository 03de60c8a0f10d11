package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// FuzzAddCredential sends arbitrary bodies to POST /v1/credentials: every
// answer is a success or a client error with a JSON Error body, never a
// 500 or a crash.
func FuzzAddCredential(f *testing.F) {
	for _, seed := range []string{
		`{"name":"shop"}`, `{"name":"shop","hold":"5m","description":"x"}`, `{"name":"Shop"}`,
		`{"name":"x","hold":"-1s"}`, `{"name":"x","hold":null}`, `{"nam":"x"}`, `[]`, `null`, `{`, ``,
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/credentials", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+operatorSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated:
			var cc admin.CredentialCreated
			if err := json.Unmarshal(w.Body.Bytes(), &cc); err != nil || cc.Password == "" {
				t.Fatalf("201 with %q: %v", w.Body, err)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var e admin.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%d with %q: %v", w.Code, w.Body, err)
			}
		default:
			t.Fatalf("body %q: status %d %s", body, w.Code, w.Body)
		}
	})
}
