package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

// TestEnableReleasesOnlyWhatTheFreezeHeld: a message an operator held
// before the disable stays held through enable --release.
func TestEnableReleasesOnlyWhatTheFreezeHeld(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	onPurpose := r.Accept(t, "shop")
	waiting := r.Accept(t, "shop")
	ids := admin.Selector{IDs: []string{onPurpose.ID.String()}}
	if _, err := c.Hold(ctx, admin.ActionRequest{Selector: ids, Reason: "customer asked"}); err != nil {
		t.Fatal(err)
	}
	dis, err := c.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{Reason: "spam"})
	if err != nil || dis.Held != 1 || dis.AlreadyHeld != 1 {
		t.Fatalf("disable = %+v, %v", dis, err)
	}
	late := r.Accept(t, "shop")
	en, err := c.EnableCredential(ctx, "shop", admin.EnableCredentialRequest{Release: true})
	if err != nil || en.Released != 2 || en.Held != 1 {
		t.Fatalf("enable --release = %+v, %v", en, err)
	}
	m, _ := r.Spool.Get(onPurpose.ID)
	if m.State != spool.Held || m.HeldBy != spool.HeldByOperator || m.Reason != "customer asked" {
		t.Errorf("the message held on purpose: %s by %q (%q)", m.State, m.HeldBy, m.Reason)
	}
	for _, id := range []spool.ID{waiting.ID, late.ID} {
		if m, _ := r.Spool.Get(id); m.State != spool.Waiting {
			t.Errorf("%s: %s, want back on its schedule", id, m.State)
		}
	}
}

// TestStatusNamesUnreadableRecords: a pause or batch record relayd
// cannot read holds mail, and status says so, in the API and the log.
func TestStatusNamesUnreadableRecords(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	m := r.Accept(t, "shop")
	if err := r.Spool.SpoilRecord("pause", "shop"); err != nil {
		t.Fatal(err)
	}
	if err := r.Spool.SpoilRecord("batch", "promo"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Unreadable, []string{"pause shop", "batch promo"}) {
		t.Errorf("unreadable_records = %q", st.Unreadable)
	}
	if len(st.Pauses) != 1 || st.Pauses[0].Credential != "shop" || !strings.Contains(st.Pauses[0].Reason, "unreadable") {
		t.Errorf("pauses = %+v", st.Pauses)
	}
	if len(st.Batches) != 1 || st.Batches[0].Status != admin.BatchPaused {
		t.Errorf("batches = %+v", st.Batches)
	}
	if !strings.Contains(r.Log.String(), "unreadable spool records") {
		t.Errorf("nothing logged:\n%s", r.Log.String())
	}
	r.Clock.Advance(time.Hour)
	if got, _ := r.Spool.Claim(r.Clock.Now(), 10); len(got) != 0 {
		t.Errorf("claimed %s under an unreadable pause", m.ID)
	}
	// Resuming writes the record off; status has nothing more to say.
	if _, err := c.Resume(t.Context(), admin.ResumeRequest{Credential: "shop"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status(t.Context()); !slices.Equal(st.Unreadable, []string{"batch promo"}) {
		t.Errorf("after resume: unreadable_records = %q", st.Unreadable)
	}
}

// TestAuditEntriesOfChanges: each change's entry is written, complete,
// with the counts the caller was told.
func TestAuditEntriesOfChanges(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	a, b := r.Accept(t, "shop"), r.Accept(t, "shop")
	sel := admin.Selector{IDs: []string{a.ID.String(), b.ID.String(), "0000000000001"}}
	if _, err := c.Drop(ctx, admin.ActionRequest{Selector: sel, Reason: "spam"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pause(ctx, admin.PauseRequest{Credential: "", Reason: "night"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.Audit(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Entries) != 2 {
		t.Fatalf("audit: %+v", list.Entries)
	}
	drop, pause := list.Entries[1], list.Entries[0]
	if drop.Action != "drop" || drop.Reason != "spam" || drop.Counts["changed"] != 2 || drop.Counts["not_found"] != 1 || len(drop.Counts) != 2 {
		t.Errorf("drop's entry: %+v", drop)
	}
	if pause.Action != "pause" || pause.Selector != "all" || len(pause.Counts) != 0 {
		t.Errorf("pause's entry: %+v", pause)
	}
}
