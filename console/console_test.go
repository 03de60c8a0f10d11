package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/console"
	"github.com/holdrelay/relay/spool"
)

func TestEveryPageCarriesAStrictNonceCSP(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	b := e.signedIn(t, opsSecret)
	csp := regexp.MustCompile(`^default-src 'none'; script-src 'nonce-([A-Za-z0-9_-]{24})'; style-src 'nonce-([A-Za-z0-9_-]{24})'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$`)
	seen := map[string]bool{}
	for _, path := range []string{"/signin", "/", "/?credential=shop", "/messages/" + m.ID.String(), "/audit", "/credentials", "/ops", "/events"} {
		resp, body := b.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
		}
		got := resp.Header.Get("Content-Security-Policy")
		sub := csp.FindStringSubmatch(got)
		if sub == nil || sub[1] != sub[2] {
			t.Fatalf("GET %s: CSP %q", path, got)
		}
		if !strings.Contains(body, `<script src="/static/console.js" nonce="`+sub[1]+`"`) {
			t.Errorf("GET %s: the script does not carry the header's nonce", path)
		}
		if seen[sub[1]] {
			t.Errorf("GET %s: nonce %s used twice", path, sub[1])
		}
		seen[sub[1]] = true
		if strings.Contains(body, opsSecret) {
			t.Errorf("GET %s: the page holds the token", path)
		}
	}
}

func TestSignedOutRequestsAreSentToSignIn(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	b := e.browser(t)
	for _, path := range []string{"/", "/audit", "/messages/" + m.ID.String() + "/raw"} {
		if resp, _ := b.get(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
			t.Errorf("GET %s signed out: %d %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, body := b.post("/act", url.Values{"action": {"drop"}, "credential": {"shop"}, "reason": {"x"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "nothing was changed") {
		t.Errorf("POST /act signed out: %d\n%s", resp.StatusCode, body)
	}
	assertState(t, e, m.ID, spool.Waiting)
}

func TestSessionCookieIsHttpOnlyStrictAndSignOutEndsIt(t *testing.T) {
	e := start(t)
	b := e.browser(t)
	resp, _ := b.post("/signin", url.Values{"token": {supportSecret}})
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain HTTP", ck)
	}
	if resp, body := b.get("/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "console:alice (support)") {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	b.post("/signout", nil)
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out: %d, want 303 to /signin", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	e := start(t)
	b := e.signedIn(t, opsSecret)
	e.Clock.Advance(8*time.Hour - time.Second)
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	e.Clock.Advance(time.Second)
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 8h: %d, want 303 to /signin", resp.StatusCode)
	}
}

func TestSignInIsThrottled(t *testing.T) {
	e := start(t)
	b := e.browser(t)
	for i := range 5 {
		if resp, body := b.post("/signin", url.Values{"token": {"wrong-token-0123456789"}}); resp.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(body, "That token is not valid.") {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := b.post("/signin", url.Values{"token": {opsSecret}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("6th attempt, right token: %d, want 429", resp.StatusCode)
	}
	e.Clock.Advance(time.Minute)
	if resp, _ := b.post("/signin", url.Values{"token": {opsSecret}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a minute later: %d, want 303", resp.StatusCode)
	}
}

func TestSignInLinkWorksOnceAndExpires(t *testing.T) {
	e := start(t)
	l, err := e.Server.NewConsoleLink("uid:0", "support")
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(l.URL, e.URL)
	b := e.browser(t)
	// Following the link (a GET, or a scanner's HEAD) spends nothing.
	if resp, body := b.get(path); resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="`+path+`"`) {
		t.Fatalf("link page: %d\n%s", resp.StatusCode, body)
	}
	if resp, err := http.Head(e.URL + path); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD of the link: %v %v", resp, err)
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("following the link signed in without its button: %d", resp.StatusCode)
	}
	// Another site cannot spend it to sign this browser in.
	cross, _ := http.NewRequest(http.MethodPost, e.URL+path, nil)
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := http.DefaultClient.Do(cross); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST of the link: %v %v", resp, err)
	}
	if resp, _ := b.post(path, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	if _, body := b.get("/"); !strings.Contains(body, "console:"+l.Name+" (support)") {
		t.Errorf("signed in as someone else:\n%s", body)
	}
	other := e.browser(t)
	if resp, body := other.post(path, nil); resp.StatusCode != http.StatusGone || !strings.Contains(body, "already used") {
		t.Errorf("second use: %d\n%s", resp.StatusCode, body)
	}
	l2, _ := e.Server.NewConsoleLink("uid:0", "operator")
	e.Clock.Advance(15 * time.Minute)
	if resp, body := other.post(strings.TrimPrefix(l2.URL, e.URL), nil); resp.StatusCode != http.StatusGone || !strings.Contains(body, "expired") {
		t.Errorf("after 15 minutes: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := other.post("/signin/not-a-real-code", nil); resp.StatusCode != http.StatusGone || !strings.Contains(body, "not known") {
		t.Errorf("unknown link: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := other.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a refused link signed in: %d", resp.StatusCode)
	}
}

func TestCrossOriginFormIsRefusedAndChangesNothing(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	b := e.signedIn(t, opsSecret)
	form := url.Values{"action": {"drop"}, "credential": {"shop"}, "reason": {"forged"}, "confirm": {"yes"}}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/act", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, body := b.read(b.c.Do(req))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "came from another site") {
		t.Fatalf("forged POST: %d\n%s", resp.StatusCode, body)
	}
	assertState(t, e, m.ID, spool.Waiting)
}

func TestSupportCannotRotateEvenByForgingTheForm(t *testing.T) {
	e := start(t)
	if _, _, err := e.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Creds.Get("shop")
	sup := e.signedIn(t, supportSecret)
	if _, body := sup.get("/credentials"); strings.Contains(body, "Rotate password") || strings.Contains(body, `/credentials/shop/rotate`) {
		t.Errorf("support sees the rotate control")
	}
	resp, body := sup.post("/credentials/shop/rotate", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "needs the operator role") {
		t.Fatalf("support rotate: %d\n%s", resp.StatusCode, body)
	}
	after, _ := e.Creds.Get("shop")
	if !after.PasswordChanged.Equal(before.PasswordChanged) {
		t.Error("support's forged request rotated the password")
	}
	ops := e.signedIn(t, opsSecret)
	if _, body := ops.get("/credentials"); !strings.Contains(body, "Rotate password") {
		t.Errorf("operator does not see the rotate control")
	}
	if resp, body := ops.post("/credentials/shop/rotate", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Shown this once") {
		t.Fatalf("operator rotate: %d\n%s", resp.StatusCode, body)
	}
	list, _ := e.Spool.Audit(0, 10)
	if len(list) == 0 || list[0].Actor != "console:ops" {
		t.Errorf("audit: %+v, want the rotation by console:ops", list)
	}
}

func TestSupportSeesOnlyItsControlsAndIsRefusedTheOthers(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	sup := e.signedIn(t, supportSecret)
	_, body := sup.get("/")
	for _, hidden := range []string{`value="flush"`, `value="release"`, `action="/pause"`} {
		if strings.Contains(body, hidden) {
			t.Errorf("support's queue page shows %s", hidden)
		}
	}
	for _, shown := range []string{`value="hold"`, `value="drop"`, `value="purge"`} {
		if !strings.Contains(body, shown) {
			t.Errorf("support's queue page lacks %s", shown)
		}
	}
	resp, body := sup.post("/act", url.Values{"action": {"flush"}, "credential": {"shop"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "needs the operator role") {
		t.Errorf("support flush: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := sup.post("/pause", url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support pause: %d", resp.StatusCode)
	}
	assertState(t, e, m.ID, spool.Waiting)
}

func TestDropAllMatchingShowsTheDryRunAndNeedsAReason(t *testing.T) {
	e := start(t)
	var shop []spool.ID
	for range 3 {
		shop = append(shop, e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n").ID)
	}
	other := e.accept(t, "news", "Subject: hi\r\n\r\nhello\r\n")
	b := e.signedIn(t, supportSecret)
	resp, body := b.post("/act", url.Values{"action": {"drop"}, "credential": {"shop"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<b class="dry-run-count">3</b>`) ||
		!strings.Contains(body, "relayctl drop --credential shop") {
		t.Fatalf("dry run: %d\n%s", resp.StatusCode, body)
	}
	assertState(t, e, shop[0], spool.Waiting)
	resp, body = b.post("/act", url.Values{"action": {"drop"}, "credential": {"shop"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Drop needs a reason") {
		t.Fatalf("confirm without reason: %d\n%s", resp.StatusCode, body)
	}
	assertState(t, e, shop[0], spool.Waiting)
	resp, body = b.post("/act", url.Values{"action": {"drop"}, "credential": {"shop"}, "confirm": {"yes"}, "reason": {"wrong template"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-outcome="changed">3<`) {
		t.Fatalf("confirmed drop: %d\n%s", resp.StatusCode, body)
	}
	for _, id := range shop {
		assertState(t, e, id, spool.Dropped)
	}
	assertState(t, e, other.ID, spool.Waiting)
	list, _ := e.Spool.Audit(0, 10) // the drop, then alice's sign-in
	if len(list) != 2 || list[0].Actor != "console:alice" || list[0].Action != "drop" || list[0].Reason != "wrong template" ||
		list[0].Selector != "credential=shop" || list[1].Action != "console.signin" {
		t.Errorf("audit: %+v", list)
	}
}

func TestBadFiltersAreExplainedAndChangeNothing(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	b := e.signedIn(t, opsSecret)
	for _, q := range []string{"state=bogus", "older_than=soon", "newer_than=-5"} {
		resp, body := b.get("/?" + q)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Bad input") {
			t.Errorf("GET /?%s: %d\n%s", q, resp.StatusCode, body)
		}
		form, _ := url.ParseQuery(q)
		form.Set("action", "drop")
		form.Set("reason", "x")
		form.Set("confirm", "yes")
		if resp, _ := b.post("/act", form); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("drop with %s: %d", q, resp.StatusCode)
		}
	}
	if resp, body := b.post("/act", url.Values{"action": {"explode"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "No such action") {
		t.Errorf("unknown action: %d", resp.StatusCode)
	}
	assertState(t, e, m.ID, spool.Waiting)
}

const trackedHTML = "Subject: offer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n" +
	"--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"<p>Hi</p><img src=3D\"http://tracker.example/pixel.gif\"><script>document.title=3D'ran'</script>\r\n--b--\r\n"

func TestMessagePageAndSandboxedPreview(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", trackedHTML)
	b := e.signedIn(t, supportSecret)
	_, body := b.get("/messages/" + m.ID.String())
	for _, want := range []string{"someone@example.org", "plain words", `<iframe class="preview" sandbox src="/messages/` + m.ID.String() + `/preview"`, "/raw"} {
		if !strings.Contains(body, want) {
			t.Errorf("message page lacks %q", want)
		}
	}
	if strings.Contains(body, "allow-scripts") || strings.Contains(body, "tracker.example") {
		t.Error("the message page lets the HTML out of its sandbox")
	}
	resp, body := b.get("/messages/" + m.ID.String() + "/preview")
	if got := resp.Header.Get("Content-Security-Policy"); got != "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox" {
		t.Errorf("preview CSP %q", got)
	}
	if got := resp.Header.Get("X-DNS-Prefetch-Control"); got != "off" {
		t.Errorf("preview X-DNS-Prefetch-Control %q, want off", got)
	}
	if !strings.Contains(body, `<img src="http://tracker.example/pixel.gif">`) {
		t.Errorf("preview body (decoded from quoted-printable): %q", body)
	}
	resp, body = b.get("/messages/" + m.ID.String() + "/raw")
	if resp.Header.Get("Content-Type") != "message/rfc822" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || body != trackedHTML {
		t.Errorf("raw: %v", resp.Header)
	}
}

func TestQueueFiltersByCredentialAndShowsTheCommand(t *testing.T) {
	e := start(t)
	a := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	n := e.accept(t, "news", "Subject: hi\r\n\r\nhello\r\n")
	b := e.signedIn(t, supportSecret)
	_, body := b.get("/?credential=shop")
	if !strings.Contains(body, a.ID.String()) || strings.Contains(body, n.ID.String()) {
		t.Errorf("filtered list wrong")
	}
	if !strings.Contains(body, "<code>relayctl queue ls --credential shop</code>") || !strings.Contains(body, `name="credential" value="shop"`) {
		t.Errorf("the filter is not kept or its command not shown:\n%s", body)
	}
	if !strings.Contains(body, `<b data-count="waiting">2</b>`) {
		t.Errorf("counts per state missing")
	}
}

func TestEventsFeedShowsTheNewestEvents(t *testing.T) {
	e := start(t)
	m := e.accept(t, "shop", "Subject: hi\r\n\r\nhello\r\n")
	e.accept(t, "news", "Subject: hi\r\n\r\nhello\r\n")
	b := e.signedIn(t, supportSecret)
	_, body := b.get("/events?credential=shop")
	if !strings.Contains(body, `<a href="/messages/`+m.ID.String()+`">`) || strings.Count(body, "<td>news</td>") != 0 ||
		!strings.Contains(body, `<meta http-equiv="refresh" content="5">`) {
		t.Errorf("events page:\n%s", body)
	}
}

func assertState(t *testing.T, e *env, id spool.ID, want spool.State) {
	t.Helper()
	m, err := e.Spool.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != want {
		t.Errorf("%s is %s, want %s", id, m.State, want)
	}
}

// The brake and batch controls act through the admin API with the
// session's role: support may stop a batch but not resume one, nor
// release a brake; an operator may.
func TestBrakeAndBatchControls(t *testing.T) {
	e := start(t)
	now := e.Clock.Now()
	tripping := spool.Incoming{Credential: "shop", From: "app@example.com", To: []string{"someone@example.org"},
		Subject: "loop", Received: now, Release: now.Add(time.Hour),
		Brake: &spool.Brake{Trigger: spool.TriggerLoop, Count: 6, Threshold: 5, Window: 10 * time.Minute, Recipient: "someone@example.org", Subject: "loop"}}
	if _, err := e.Spool.AcceptAll([]spool.Incoming{tripping}, [][]byte{[]byte("Subject: loop\r\n\r\nagain\r\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Spool.CreateBatch("b1", now, nil); err != nil {
		t.Fatal(err)
	}

	sup := e.signedIn(t, supportSecret)
	_, body := sup.get("/ops")
	if strings.Contains(body, "Release brake") || strings.Contains(body, "/batches/b1/resume") || !strings.Contains(body, "/batches/b1/pause") {
		t.Errorf("support's ops page: brake release or batch resume shown, or batch pause missing\n%s", body)
	}
	if resp, body := sup.post("/brakes/shop/release", url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support's forged brake release: %d\n%s", resp.StatusCode, body)
	}
	if bs, _ := e.Spool.Brakes(); len(bs) != 1 {
		t.Fatalf("after support's forged release: brakes %+v", bs)
	}
	if resp, body := sup.post("/batches/b1/pause", url.Values{"reason": {"hold it"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("support's batch pause: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := sup.post("/batches/b1/resume", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support's forged batch resume: %d", resp.StatusCode)
	}
	if resp, _ := sup.post("/batches/b1/explode", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown batch verb: %d", resp.StatusCode)
	}

	ops := e.signedIn(t, opsSecret)
	if _, body := ops.get("/ops"); !strings.Contains(body, "Release brake") || !strings.Contains(body, "/batches/b1/resume") {
		t.Errorf("operator's ops page lacks the brake release or batch resume\n%s", body)
	}
	if resp, body := ops.post("/brakes/shop/release", url.Values{"reason": {"fixed"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator's brake release: %d\n%s", resp.StatusCode, body)
	}
	if bs, _ := e.Spool.Brakes(); len(bs) != 0 {
		t.Errorf("after the operator's release: brakes %+v", bs)
	}
	if resp, _ := ops.post("/batches/b1/resume", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("operator's batch resume: %d", resp.StatusCode)
	}
	list, _ := e.Spool.Audit(0, 10)
	actors := map[string]string{}
	for _, a := range list {
		actors[a.Action] = a.Actor
	}
	if actors["brake release"] != "console:ops" || actors["batch pause"] != "console:alice" {
		t.Errorf("audit actors: %v; want brake release by console:ops, batch pause by console:alice", actors)
	}
}

func TestRemovingATokenEndsItsSessions(t *testing.T) {
	e := start(t)
	b := e.signedIn(t, supportSecret)
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	// --admin-tokens reloaded without alice: her console session ends too.
	if err := e.Server.SetTokens([]server.Token{{Name: "ops", Secret: opsSecret, Role: server.RoleOperator}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after alice's token was removed: %d, want 303 to /signin", resp.StatusCode)
	}
	resp, _ := b.post("/act", url.Values{"action": {"hold"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("hold after alice's token was removed: %d, want 401", resp.StatusCode)
	}
	// A role taken back ends the session too: ops comes back as support.
	op := e.signedIn(t, opsSecret)
	if err := e.Server.SetTokens([]server.Token{{Name: "ops", Secret: opsSecret, Role: server.RoleSupport}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := op.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after ops became support: %d, want 303 to /signin", resp.StatusCode)
	}
}

// gatedAdmin is the real admin server whose SignIn waits at a gate, so
// that a test can hold sign-ins in flight at once.
type gatedAdmin struct {
	*server.Server
	entered chan struct{}
	gate    chan struct{}
}

func (g gatedAdmin) SignIn(secret string) (string, string, bool) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Server.SignIn(secret)
}

func TestSignInsSentAtOnceAreThrottledToo(t *testing.T) {
	e := start(t)
	g := gatedAdmin{Server: e.Server, entered: make(chan struct{}), gate: make(chan struct{})}
	ts := httptest.NewServer(console.New(console.Options{Admin: g, Now: e.Clock.Now}))
	defer ts.Close()
	const n = 10
	codes := make(chan int, n)
	for range n {
		go func() {
			b := (&env{Relay: e.Relay, URL: ts.URL}).browser(t)
			resp, _ := b.post("/signin", url.Values{"token": {"wrong-token-0123456789"}})
			codes <- resp.StatusCode
		}()
	}
	// Each attempt either reaches SignIn or is answered without it.
	entered, answered := 0, 0
	for entered+answered < n {
		select {
		case <-g.entered:
			entered++
		case c := <-codes:
			if c != http.StatusTooManyRequests {
				t.Errorf("answered before any sign-in finished: %d, want 429", c)
			}
			answered++
		}
	}
	close(g.gate)
	for range entered {
		<-codes
	}
	if entered != 5 {
		t.Errorf("%d of %d sign-ins sent at once were checked; want 5 (the throttle's limit)", entered, n)
	}
}

// TestOldSessionIDsAreDeadServerSide replays a session cookie the browser
// was told to drop: signing out, or signing in again over it, must end
// the session in relayd, not only in the browser's jar.
func TestOldSessionIDsAreDeadServerSide(t *testing.T) {
	e := start(t)
	replay := func(id string) int {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: "relay_console", Value: id})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cookieOf := func(resp *http.Response) string {
		for _, c := range resp.Cookies() {
			if c.Name == "relay_console" && c.Value != "" {
				return c.Value
			}
		}
		t.Fatal("no session cookie")
		return ""
	}
	b := e.browser(t)
	resp, _ := b.post("/signin", url.Values{"token": {opsSecret}})
	first := cookieOf(resp)
	if code := replay(first); code != http.StatusOK {
		t.Fatalf("the live session: %d", code)
	}
	resp, _ = b.post("/signin", url.Values{"token": {supportSecret}})
	second := cookieOf(resp)
	if code := replay(first); code != http.StatusSeeOther {
		t.Errorf("ops's session after alice signed in over it: %d, want 303", code)
	}
	b.post("/signout", nil)
	if code := replay(second); code != http.StatusSeeOther {
		t.Errorf("alice's session after sign-out: %d, want 303", code)
	}
}

func TestALinkUsedTwiceAtOnceSignsInOnce(t *testing.T) {
	e := start(t)
	l, err := e.Server.NewConsoleLink("uid:0", "operator")
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(l.URL, e.URL)
	const n = 5 // the throttle's limit per address: no use is refused as too many
	codes := make(chan int, n)
	for range n {
		go func() {
			resp, _ := e.browser(t).post(path, nil)
			codes <- resp.StatusCode
		}()
	}
	won := 0
	for range n {
		switch c := <-codes; c {
		case http.StatusSeeOther:
			won++
		case http.StatusGone:
		default:
			t.Errorf("a use of the link: %d", c)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d simultaneous uses of one link signed in; want 1", won, n)
	}
}

// TestEveryPostIsCrossOriginProtected sends each state-changing route a
// cross-site POST: sign-in and sign-out included (a forged sign-out ends
// no session; a forged sign-in opens none).
func TestEveryPostIsCrossOriginProtected(t *testing.T) {
	e := start(t)
	b := e.signedIn(t, opsSecret)
	l, err := e.Server.NewConsoleLink("uid:0", "operator")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/signin", strings.TrimPrefix(l.URL, e.URL), "/signout", "/act", "/pause", "/resume", "/credentials/shop/rotate"} {
		req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader("token="+opsSecret+"&action=hold&confirm=yes"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, _ := b.read(b.c.Do(req))
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("cross-site POST %s: %d, cookies %v; want 403 and none", path, resp.StatusCode, resp.Cookies())
		}
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusOK {
		t.Errorf("after a forged sign-out: %d, want the session still there", resp.StatusCode)
	}
	if resp, _ := b.post(strings.TrimPrefix(l.URL, e.URL), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the link after its forged use: %d, want it still good", resp.StatusCode)
	}
}

// TestOutsideTextIsEscapedOnEveryPage spools a message whose envelope,
// headers and text body are markup, and looks for it raw on each page
// that shows them.
func TestOutsideTextIsEscapedOnEveryPage(t *testing.T) {
	e := start(t)
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	now := e.Clock.Now()
	m, err := e.Spool.Accept(spool.Incoming{Credential: "shop", From: "app@example.com", To: []string{"someone@example.org"},
		Subject: evil, Received: now, Release: now.Add(time.Hour)},
		[]byte("Subject: "+evil+"\r\nX-Evil: "+evil+"\r\n\r\n"+evil+"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(t, opsSecret)
	for _, path := range []string{"/", "/messages/" + m.ID.String(), "/events"} {
		resp, body := b.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("GET %s: the message's markup is on the page unescaped", path)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("GET %s: the subject is not shown (escaped)", path)
		}
	}
}
