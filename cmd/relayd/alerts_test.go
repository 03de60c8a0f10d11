package main

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.yaml.in/yaml/v3"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/smtptest"
)

const alertsFile = "../../dist/relayd-alerts.yml"

// ruleFile is Prometheus's rule file, as far as alerting rules go.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// comesLater are metrics that a feature being built alongside adds: a
// rule may name them before relayd exposes them. None at present.
var comesLater = map[string]bool{}

// TestAlertRules reads dist/relayd-alerts.yml in the shape of a
// Prometheus rule file, and checks that every relay_ metric its rules use
// is one a running relayd exposes.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s is not a Prometheus rule file: %v", alertsFile, err)
	}
	used := map[string][]string{} // metric: alerts using it
	alerts := map[string]bool{}
	metricName := regexp.MustCompile(`\brelay_[a-z0-9_]+\b`)
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %q: want alert, expr, a severity label and a summary", r.Alert)
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				used[m] = append(used[m], r.Alert)
			}
		}
	}
	for _, want := range []string{"RelaydDown", "RelaydNotReady", "RelaySpoolWriteErrors", "RelayDeliveriesFailing",
		"RelayDeferredPilingUp", "RelayQueueStalled", "RelayWebhookBacklog", "RelayWebhookEventsGivenUp",
		"RelayReloadFailed", "RelayBrakeTripped"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
	if len(used["relay_brake_trips_total"]) == 0 {
		t.Error("no rule uses relay_brake_trips_total")
	}

	exposed := scrapeBusyRelayd(t)
	for m, by := range used {
		if !exposed[m] && !comesLater[m] {
			t.Errorf("%s, used by %v, is not among relayd's metrics", m, by)
		}
	}
}

// scrapeBusyRelayd runs a relayd that has done what makes every metric
// appear (a vector without a sample is not exposed): a certificate, a
// refused command, a deferred delivery, a webhook that took events. It
// returns the names of the metrics it exposes.
func scrapeBusyRelayd(t *testing.T) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, _ := smtptest.Certificate(t)
	writePair(t, certPath, keyPath, cert, cert)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer hook.Close()
	sock, metrics := shortSock(t), freePort(t)
	d := startRelayd(t, t.TempDir(), "--hold", "0s", "--upstream", "smtp://"+freePort(t)+"?tls=none", // nobody listens: deferred
		"--tls-cert", certPath, "--tls-key", keyPath, "--admin-listen", "unix:"+sock, "--metrics-listen", metrics)
	c, err := admin.NewClient("unix:"+sock, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddWebhook(t.Context(), admin.AddWebhookRequest{Name: "crm", URL: hook.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(d.smtp, d.password, "deferred"); err != nil {
		t.Fatal(err)
	}
	if err := mailWithoutLogin(d.smtp); err == nil {
		t.Fatal("MAIL before AUTH accepted")
	}
	var names map[string]bool
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := httpGet(t, "http://"+metrics+"/metrics")
		names = metricNames(body)
		if names["relay_webhook_events_total"] && names["relay_delivery_attempts_total"] && names["relay_queue_next_due_timestamp_seconds"] {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the webhook's events, the attempt and the next due time:\n%s", body)
		}
	}
}

// mailWithoutLogin sends MAIL without logging in, which relayd refuses.
func mailWithoutLogin(addr string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("alerts.test"); err != nil {
		return err
	}
	return c.Mail("app@example.com", nil)
}

// metricNames reads the names of the samples in a text exposition.
func metricNames(body string) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		out[name] = true
	}
	return out
}
