package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdrelay/relay/internal/testenv"
	"github.com/holdrelay/relay/spool"
)

// TestBrowser drives the console in a real headless Chromium (Debian's
// chromium; chromedp downloads nothing). One browser serves every
// subtest, each in a browser context of its own (its own cookies).
// RELAY_SCREENSHOTS=DIR saves the main pages there as PNGs (the README's
// come from RELAY_SCREENSHOTS=../docs).
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	t.Parallel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1100, 760))
	alloc, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	e := start(t)
	t.Run("link, filter, open, drop all matching, audit agrees", func(t *testing.T) { dropAllMatching(t, e, browser) })
	t.Run("support cannot rotate by forging the form", func(t *testing.T) { forgedRotate(t, e, browser) })
	t.Run("preview fires no request and runs no script", func(t *testing.T) { quietPreview(t, e, browser) })
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return testenv.Tool(t, "chromium", "apt-get install chromium")
}

// tab is a fresh browser context (cookies of its own) with a deadline.
func tab(t *testing.T, browser context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func evalAwait(t *testing.T, ctx context.Context, js string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("RELAY_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signInLink(t *testing.T, e *env, ctx context.Context, role string) string {
	l, err := e.Server.NewConsoleLink("uid:0", role)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(l.URL), chromedp.Click(chromedp.CSS("form.signin-link button")), chromedp.WaitVisible(chromedp.CSS("table.messages")))
	return l.Name
}

func dropAllMatching(t *testing.T, e *env, browser context.Context) {
	var shop []spool.ID
	for i := range 3 {
		shop = append(shop, e.accept(t, "shop", fmt.Sprintf("Subject: order %d\r\n\r\nYour order %d\r\n", i, i)).ID)
	}
	news := e.accept(t, "news", "Subject: news\r\n\r\nweekly\r\n")
	ctx := tab(t, browser)
	name := signInLink(t, e, ctx, "support")
	screenshot(t, ctx, "queue")

	// Filter by credential: / focuses the filter's first field.
	do(t, ctx, chromedp.KeyEvent("/"))
	if got := eval[string](t, ctx, "document.activeElement.name"); got != "credential" {
		t.Fatalf("/ focused %q, want the Credential filter", got)
	}
	do(t, ctx, chromedp.KeyEvent("shop\r"), chromedp.WaitVisible(chromedp.CSS(`input[name=credential][value=shop]`)))
	if n := eval[int](t, ctx, "document.querySelectorAll('tr[data-href]').length"); n != 3 {
		t.Fatalf("filtered list has %d rows, want 3", n)
	}
	if got := text(t, ctx, "p.cmd code"); got != "relayctl queue ls --credential shop" {
		t.Errorf("command shown: %q", got)
	}
	// j selects the first row (the newest), Enter opens it.
	do(t, ctx, chromedp.KeyEvent("j"), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS("dl.envelope")))
	if got := text(t, ctx, "h1"); got != "Message "+shop[2].String() {
		t.Errorf("opened %q, want the newest message %s", got, shop[2])
	}
	screenshot(t, ctx, "message")

	do(t, ctx, chromedp.Navigate(e.URL+"/?credential=shop"), chromedp.WaitVisible(chromedp.CSS(`input[name=credential][value=shop]`)),
		chromedp.SendKeys(chromedp.CSS(".bulk input[name=reason]"), "wrong template"),
		chromedp.Click(chromedp.CSS(`.bulk button[value=drop]`)), chromedp.WaitVisible(chromedp.CSS(".dry-run-count")))
	if got := text(t, ctx, ".dry-run-count"); got != "3" {
		t.Fatalf("dry run counted %q, want 3", got)
	}
	assertState(t, e, shop[0], spool.Waiting)
	screenshot(t, ctx, "confirm")
	do(t, ctx, chromedp.Click(chromedp.CSS("button.danger")), chromedp.WaitVisible(chromedp.CSS("[data-outcome]")))
	if got := text(t, ctx, `[data-outcome=changed]`); got != "3" {
		t.Errorf("dropped %q, want 3", got)
	}
	for _, id := range shop {
		assertState(t, e, id, spool.Dropped)
	}
	assertState(t, e, news.ID, spool.Waiting)

	do(t, ctx, chromedp.Navigate(e.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	screenshot(t, ctx, "audit")
	row := text(t, ctx, "table.audit tbody tr")
	entries, _ := e.Spool.Audit(0, 1)
	want := []string{"console:" + name, "drop", "credential=shop", "wrong template", "changed=3"}
	for _, w := range want {
		if !strings.Contains(row, w) {
			t.Errorf("audit page's newest row %q lacks %q", row, w)
		}
	}
	if len(entries) != 1 || entries[0].Actor != "console:"+name || entries[0].Counts["changed"] != 3 || entries[0].Reason != "wrong template" {
		t.Errorf("spool's audit: %+v", entries)
	}
}

func forgedRotate(t *testing.T, e *env, browser context.Context) {
	if _, _, err := e.Creds.Add("billing", "", nil); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Creds.Get("billing")
	ctx := tab(t, browser)
	signInLink(t, e, ctx, "support")
	do(t, ctx, chromedp.Navigate(e.URL+"/credentials"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if n := eval[int](t, ctx, "document.querySelectorAll('form[action$=\"/rotate\"]').length"); n != 0 {
		t.Errorf("support sees %d rotate controls", n)
	}
	// Forge what an operator's page would have sent, from the page itself
	// (same origin, the session's cookie): the server still refuses.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => { const f = document.createElement("form"); f.method = "post";
		f.action = "/credentials/billing/rotate"; document.body.appendChild(f); f.submit(); })()`),
		chromedp.WaitVisible(chromedp.CSS("p.error")))
	if got := text(t, ctx, "h1"); got != "Not allowed for your role" {
		t.Errorf("forged rotate answered %q", got)
	}
	after, _ := e.Creds.Get("billing")
	if !after.PasswordChanged.Equal(before.PasswordChanged) {
		t.Error("the forged request rotated the password")
	}
}

func quietPreview(t *testing.T, e *env, browser context.Context) {
	var hits atomic.Int32
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a"))
	}))
	defer tracker.Close()
	html := fmt.Sprintf(`<html><head><link rel="stylesheet" href="%[1]s/style.css"><style>@font-face{font-family:x;src:url(%[1]s/font.woff)} body{background:url(%[1]s/bg.png);font-family:x}</style></head>`+
		`<body><p>Big sale</p><img src="%[1]s/pixel.gif"><script>new Image().src="%[1]s/script"; fetch("%[1]s/fetch")</script></body></html>`, tracker.URL)
	m := e.accept(t, "shop", "Subject: sale\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"+html+"\r\n")
	ctx := tab(t, browser)
	signInLink(t, e, ctx, "operator")
	do(t, ctx, chromedp.Navigate(e.URL+"/messages/"+m.ID.String()), chromedp.WaitVisible(chromedp.CSS("iframe.preview")))
	// The window's load event waits for the iframe's.
	if !evalAwait(t, ctx, `new Promise(ok => document.readyState === "complete" ? ok(true) : addEventListener("load", () => ok(true)))`) {
		t.Fatal("preview did not load")
	}
	time.Sleep(300 * time.Millisecond) // a request would be sent by now; nothing else to wait on
	if n := hits.Load(); n != 0 {
		t.Errorf("viewing the message sent %d request(s) to the tracker", n)
	}
	// The control: the same browser does reach the tracker when asked
	// (and asks it for a favicon too).
	do(t, ctx, chromedp.Navigate(tracker.URL+"/control"))
	if hits.Load() < 1 {
		t.Errorf("control request not counted: %d", hits.Load())
	}
}
