package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// TestStorageErrorIsUnavailable: a change the spool cannot write (a full
// disk, an I/O error) is a 503 that says so, not a 500 that reads as a bug:
// the same request works once the disk is mended.
func TestStorageErrorIsUnavailable(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	r.Spool.InjectCommitFault(func() error { return errors.New("injected: no space left on device") })
	_, err := c.Pause(t.Context(), admin.PauseRequest{Reason: "test"})
	r.Spool.InjectCommitFault(nil)
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Code != admin.CodeUnavailable || !strings.Contains(err.Error(), "cannot write") {
		t.Fatalf("pause on a failing disk: %v; want 503 %s saying the spool cannot write", err, admin.CodeUnavailable)
	}
	if _, err := c.Pause(t.Context(), admin.PauseRequest{Reason: "test"}); err != nil {
		t.Fatalf("pause once the disk is mended: %v", err)
	}
}
