package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

// trip brakes cred as the intake does: with the message that trips it.
func trip(t *testing.T, r *servertest.Relay, cred string) {
	t.Helper()
	now := r.Clock.Now()
	_, err := r.Spool.AcceptAll([]spool.Incoming{{Credential: cred, From: "app@example.com", To: []string{"v@example.org"},
		Subject: "invoice", Received: now, Release: now.Add(30 * time.Second),
		Brake: &spool.Brake{Trigger: spool.TriggerLoop, Count: 6, Threshold: 5, Window: 10 * time.Minute, Recipient: "v@example.org", Subject: "invoice"}}},
		[][]byte{[]byte("Subject: invoice\r\n\r\npay\r\n")})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBrakeListAndRelease: a braked credential shows in GET /v1/brakes
// and in the status; its release puts its mail back on schedule, writes
// its audit entry, and a second release is refused clearly.
func TestBrakeListAndRelease(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	r.Accept(t, "shop")
	trip(t, r, "shop")
	r.Accept(t, "shop") // arrives held

	bs, err := c.Brakes(ctx)
	if err != nil || len(bs) != 1 || bs[0].Credential != "shop" || bs[0].Trigger != "loop" || bs[0].HeldAtTrip != 2 || bs[0].Held != 3 || bs[0].Window != "10m0s" {
		t.Fatalf("brakes = %+v, %v", bs, err)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Braked) != 1 || st.BrakeDuplicates != 5 || st.BrakeRate != 600 {
		t.Fatalf("status braked = %+v, %v", st.Braked, err)
	}
	res, err := c.ReleaseBrake(ctx, "shop", admin.BrakeReleaseRequest{Reason: "checked"})
	if err != nil || res.Released != 3 || res.StillHeld != 0 || res.Brake.Trigger != "loop" {
		t.Fatalf("release = %+v, %v", res, err)
	}
	if n, _ := r.Spool.Count(spool.Selector{Credential: "shop", States: []spool.State{spool.Waiting}}); n[spool.Waiting] != 3 {
		t.Errorf("after the release: %v", n)
	}
	audit, _ := r.Spool.Audit(0, 1)
	if len(audit) != 1 || audit[0].Action != "brake release" || audit[0].Reason != "checked" || audit[0].Counts["changed"] != 3 {
		t.Errorf("audit = %+v", audit)
	}
	_, err = c.ReleaseBrake(ctx, "shop", admin.BrakeReleaseRequest{})
	apiError(t, err, http.StatusConflict, admin.CodeNotBraked)
	_, err = c.ReleaseBrake(ctx, "nobody", admin.BrakeReleaseRequest{})
	apiError(t, err, http.StatusNotFound, admin.CodeNotFound)
	if bs, _ := c.Brakes(ctx); bs == nil || len(bs) != 0 {
		t.Errorf("brakes after release = %#v, want []", bs)
	}
}

// TestBrakeThresholdSettings: a credential's thresholds take a number
// from 0 or "default"; negative, absurd and malformed ones are refused.
func TestBrakeThresholdSettings(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{BrakeDuplicates: ptr("0"), BrakeRate: ptr("3000")})
	if err != nil || got.BrakeDuplicates == nil || *got.BrakeDuplicates != 0 || got.BrakeRate == nil || *got.BrakeRate != 3000 {
		t.Fatalf("set = %+v, %v", got, err)
	}
	got, err = c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{BrakeDuplicates: ptr(admin.BrakeDefault)})
	if err != nil || got.BrakeDuplicates != nil || *got.BrakeRate != 3000 {
		t.Fatalf("default = %+v, %v", got, err)
	}
	for _, bad := range []admin.UpdateCredentialRequest{
		{BrakeDuplicates: ptr("-1")}, {BrakeDuplicates: ptr("10001")}, {BrakeRate: ptr("1000001")},
		{BrakeRate: ptr("lots")}, {BrakeRate: ptr("")},
	} {
		_, err := c.UpdateCredential(ctx, "shop", bad)
		apiError(t, err, http.StatusBadRequest, admin.CodeInvalid)
	}
	if s, _ := r.Creds.Get("shop"); s.BrakeRate == nil || *s.BrakeRate != 3000 {
		t.Errorf("a refused change changed it: %+v", s)
	}
}
