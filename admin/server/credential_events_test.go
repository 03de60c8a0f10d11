package server_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

// TestEnableEventOnlyWithItsChange: an enable whose write of auth's
// record fails, after the spool has thawed, leaves no credential.enabled
// event: the event is written with that record, not with the thaw.
func TestEnableEventOnlyWithItsChange(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableCredential(t.Context(), "shop", admin.CredentialChangeRequest{}); err != nil {
		t.Fatal(err)
	}
	var commits atomic.Int32
	r.Spool.InjectCommitFault(func() error {
		if commits.Add(1) == 2 { // the thaw goes through, auth's record does not
			return errors.New("injected write error")
		}
		return nil
	})
	_, err := c.EnableCredential(t.Context(), "shop", admin.EnableCredentialRequest{})
	r.Spool.InjectCommitFault(nil)
	if err == nil {
		t.Fatal("enable succeeded with auth's record unwritten")
	}
	if cr, _ := r.Creds.Get("shop"); !cr.Disabled {
		t.Fatal("the credential is enabled: the fault missed auth's write")
	}
	evs, err := r.Spool.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == spool.EvCredentialEnabled {
			t.Errorf("credential.enabled written for an enable that did not happen: %+v", e)
		}
	}

	if _, err := c.EnableCredential(t.Context(), "shop", admin.EnableCredentialRequest{}); err != nil {
		t.Fatal(err)
	}
	if evs, _ = r.Spool.Events(evs[len(evs)-1].Seq, 100); len(evs) != 1 || evs[0].Type != spool.EvCredentialEnabled {
		t.Errorf("events of the enable that worked: %+v", evs)
	}
}
