package auth

import (
	"slices"
	"sync"
	"testing"
)

// Two Services over one store are two relayd nodes over one spool: what
// one changes, the other has after Reload, and its sessions hear of it.
func TestReloadSeesAnotherNodesChanges(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	f.add(t, "gone")
	other := f.open(t)
	if !ok(other, "app", pw) {
		t.Fatal("the other node does not know app's password")
	}
	var mu sync.Mutex
	var told []string
	other.OnChange(func(name string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, name)
	})

	newPW, err := f.svc.Rotate("app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	f.add(t, "new")
	if !ok(other, "app", pw) {
		t.Fatal("before Reload the other node should still have the old password (it is a cache)")
	}
	if err := other.Reload(); err != nil {
		t.Fatal(err)
	}
	if ok(other, "app", pw) {
		t.Error("after Reload the rotated-away password still works (the login cache kept it)")
	}
	if !ok(other, "app", newPW) {
		t.Error("after Reload the new password fails")
	}
	if _, found := other.Get("gone"); found {
		t.Error("a removed credential survived Reload")
	}
	if _, found := other.Get("new"); !found {
		t.Error("an added credential is missing after Reload")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"app", "gone", "new"}; !slices.Equal(told, want) {
		t.Errorf("OnChange heard %v, want %v", told, want)
	}
}

// A record that cannot be read keeps the whole old copy.
func TestReloadFailureKeepsTheOldCopy(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	f.store.recs["broken"] = []byte("{")
	f.store.recs["app"] = []byte(`{"v":1,"name":"app","hash":"$argon2id$nonsense"}`)
	if err := f.svc.Reload(); err == nil {
		t.Fatal("Reload of an unreadable record succeeded")
	}
	if !ok(f.svc, "app", pw) {
		t.Error("a failed Reload changed a credential")
	}
	if _, found := f.svc.Get("broken"); found {
		t.Error("a failed Reload added a credential")
	}
}

// A Reload with nothing changed tells no one.
func TestReloadUnchangedIsQuiet(t *testing.T) {
	f := newFixture(t)
	f.add(t, "app")
	told := 0
	f.svc.OnChange(func(string) { told++ })
	if err := f.svc.Reload(); err != nil {
		t.Fatal(err)
	}
	if told != 0 {
		t.Errorf("OnChange called %d times for a Reload that changed nothing", told)
	}
}
