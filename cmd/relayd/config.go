package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/size"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/relay/upstream"
)

// config is relayd's whole configuration after flags, environment, the
// config file and defaults have been merged, in that order of precedence.
type config struct {
	ConfigFile  string
	Data        string
	SMTPListen  string
	SMTPSListen string
	HTTPListen  string
	TLSCert     string
	TLSKey      string
	AdminListen string
	AdminTokens tokenList
	// TokensOnCommandLine: --admin-tokens was given as a flag, which a
	// reload cannot change (see reloader).
	TokensOnCommandLine bool
	Hold                time.Duration
	Upstream            string
	// UpstreamFallback is --upstream-fallback; "" for none.
	UpstreamFallback string
	UpstreamTimeout  time.Duration
	TrustedNetworks  []string
	MaxMessageSize   string
	MaxInflight      string
	MaxRecipients    int
	MaxConns         int
	MaxConnsPerIP    int
	SMTPTimeout      time.Duration
	MaxSession       time.Duration
	InsecureAuth     bool
	Hostname         string
	Concurrency      int
	MaxQueueAge      time.Duration
	Retention        time.Duration
	WebhookMaxAge    time.Duration
	Bounces          string
	ShutdownTimeout  time.Duration
	LogLevel         string
	LogFormat        string
	MetricsListen    string
	ConsoleListen    string
	BrakeDuplicates  int
	BrakeRate        int
	// Spool is --spool: "" until resolve makes it bolt:<data>/spool.db.
	Spool     string
	NodeName  string
	NodeLease time.Duration
}

func (c *config) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file; its keys are these flags' names")
	fs.StringVar(&c.Data, "data", "./relay-data", "data directory: the spool file and the admin socket")
	fs.StringVar(&c.Spool, "spool", "", "where the spool is kept: bolt:PATH (a bbolt file; default bolt:<data>/spool.db) or postgres://user@host/db, shared by every relayd started with the same URL; give a password in the env or config file, not here")
	fs.StringVar(&c.NodeName, "node-name", "", "this relayd's name among the nodes sharing a PostgreSQL spool (default: the system host name)")
	fs.DurationVar(&c.NodeLease, "node-lease", 30*time.Second, "on a PostgreSQL spool, how long this node may go unseen before the others take over its deliveries (at least 3s)")
	fs.StringVar(&c.SMTPListen, "smtp-listen", "127.0.0.1:2525", "SMTP submission listener (STARTTLS when a certificate is set)")
	fs.StringVar(&c.SMTPSListen, "smtps-listen", "", "implicit-TLS SMTP listener, e.g. :465 (off unless given; needs --tls-cert)")
	fs.StringVar(&c.HTTPListen, "http-listen", "", "SendGrid's v3 Mail Send API (POST /v3/mail/send), e.g. 127.0.0.1:8026 (off unless given; HTTPS when --tls-cert is set)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); enables STARTTLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.AdminListen, "admin-listen", "", "admin API: unix:PATH or a TCP address (default unix:<data>/admin.sock)")
	fs.Var(&c.AdminTokens, "admin-tokens", "admin API bearer tokens, required for TCP, as name:role:secret (role operator or support), comma-separated; prefer the env or config file to keep secrets out of ps")
	fs.DurationVar(&c.Hold, "hold", 30*time.Second, "hold window before delivery (a credential's own window overrides it; 0s delivers at once)")
	fs.StringVar(&c.Upstream, "upstream", "", "where mail goes: smtp://[user:pass@]host:port[?tls=none|opportunistic], smtps://..., file:///dir (default file://<data>/outbox); give a password in the env or config file, not here")
	fs.StringVar(&c.UpstreamFallback, "upstream-fallback", "", "where mail goes when the upstream answers 4xx or cannot be reached, in the same form as --upstream (default none; a credential may have its own)")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", 5*time.Minute, "how long to wait for each reply of an SMTP upstream, the one to the end of data included")
	fs.StringSliceVar(&c.TrustedNetworks, "trusted-networks", nil, "CIDRs whose clients may relay without AUTH, comma-separated (default none)")
	fs.StringVar(&c.MaxMessageSize, "max-message-size", "25MiB", "largest message accepted (bytes, or with KB, KiB, MB, MiB)")
	fs.StringVar(&c.MaxInflight, "max-inflight-bytes", "512MiB", "memory for messages being received, all sessions together; past it, 452 4.3.1 (at least twice --max-message-size plus 2MiB)")
	fs.IntVar(&c.MaxRecipients, "max-recipients", 100, "most recipients per message")
	fs.IntVar(&c.MaxConns, "max-connections", 1000, "most SMTP connections open at once; more get 421 4.7.0")
	fs.IntVar(&c.MaxConnsPerIP, "max-connections-per-ip", 100, "most SMTP connections open at once from one client address (IPv6: one /64); more get 421 4.7.0")
	fs.DurationVar(&c.SMTPTimeout, "smtp-timeout", 5*time.Minute, "how long an SMTP client may take for each command, and for a whole DATA transfer")
	fs.DurationVar(&c.MaxSession, "max-session-duration", time.Hour, "longest SMTP session, however busy; the client then reconnects")
	fs.BoolVar(&c.InsecureAuth, "insecure-auth", false, "offer AUTH over plaintext to non-loopback clients (passwords travel in clear)")
	fs.StringVar(&c.Hostname, "hostname", "", "name in the SMTP greeting, EHLO and Received headers (default: the system host name)")
	fs.IntVar(&c.Concurrency, "delivery-concurrency", 32, "deliveries in flight at once")
	fs.DurationVar(&c.MaxQueueAge, "max-queue-age", 120*time.Hour, "give up retrying a message this long after it was received")
	fs.DurationVar(&c.Retention, "retention", 168*time.Hour, "keep records of delivered, failed and dropped messages this long")
	fs.DurationVar(&c.WebhookMaxAge, "webhook-max-age", 72*time.Hour, "retry a webhook's events this long, then give them up; undelivered events are kept as long")
	fs.StringVar(&c.Bounces, "bounces", "on", "on: a message that fails for good sends its sender a delivery status notification (RFC 3464) through the upstream; off: none")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long to let sessions and deliveries finish")
	fs.IntVar(&c.BrakeDuplicates, "brake-duplicates", relay.DefaultBrake.Duplicates, "runaway brake, loop trigger: hold a credential's mail when one recipient gets the same Subject and body more than N times within 10 minutes (0: off; a credential's own setting overrides it)")
	fs.IntVar(&c.BrakeRate, "brake-rate", relay.DefaultBrake.Rate, "runaway brake, rate trigger: hold a credential's mail when it sends more than N messages within 60 seconds, announced batches aside (0: off; a credential's own setting overrides it)")
	fs.StringVar(&c.ConsoleListen, "console-listen", "127.0.0.1:8025", "web console for support staff and operators (off disables it; HTTPS when --tls-cert is set)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "serve Prometheus metrics on this address at /metrics, e.g. 127.0.0.1:9125 (off unless given; no authentication)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
}

// envName is the environment variable for a flag: RELAY_ + NAME_IN_CAPS.
func envName(flag string) string {
	return "RELAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// merge fills every flag not given on the command line from the
// environment, then from the config file. Flags keep their defaults
// otherwise.
func merge(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	if f := fs.Lookup("config"); !f.Changed {
		if v, ok := lookupEnv(envName("config")); ok {
			if err := fs.Set("config", v); err != nil {
				return err
			}
		}
	}
	file := map[string]string{}
	if path := fs.Lookup("config").Value.String(); path != "" {
		var err error
		if file, err = readConfigFile(path, fs); err != nil {
			return err
		}
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		v, ok := lookupEnv(envName(f.Name))
		source := envName(f.Name)
		if !ok {
			v, ok = file[f.Name]
			source = "config file key " + f.Name
		}
		if ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", source, withoutSecret(err)))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("invalid settings:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// readConfigFile reads a YAML mapping of flag names to values. Lists become
// comma-separated values; unknown keys are an error, not a silent typo.
func readConfigFile(path string, fs *pflag.FlagSet) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(doc))
	var unknown []string
	for k, v := range doc {
		if fs.Lookup(k) == nil || k == "config" || k == "help" {
			unknown = append(unknown, k)
			continue
		}
		s, err := scalarText(v)
		if err != nil {
			return nil, fmt.Errorf("config file %s: key %s: %w", path, k, err)
		}
		out[k] = s
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown keys: %s (keys are relayd's flag names)", path, strings.Join(unknown, ", "))
	}
	return out, nil
}

func scalarText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool, int, int64, float64:
		return fmt.Sprint(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := scalarText(e)
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				// By number: the item may be a secret.
				return "", fmt.Errorf("list item %d contains a comma", i+1)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a value or a list, got %T", v)
}

// resolve derives the settings that default from others and validates.
func (c *config) resolve() error {
	if c.AdminListen == "" {
		c.AdminListen = "unix:" + filepath.Join(c.Data, "admin.sock")
	}
	if c.Upstream == "" {
		abs, err := filepath.Abs(filepath.Join(c.Data, "outbox"))
		if err != nil {
			return err
		}
		c.Upstream = (&url.URL{Scheme: "file", Path: abs}).String()
	}
	if c.Hostname == "" {
		c.Hostname = hostname()
	}
	if err := c.resolveSpool(); err != nil {
		return err
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.SMTPSListen != "" && c.TLSCert == "" {
		return fmt.Errorf("--smtps-listen needs --tls-cert and --tls-key")
	}
	if c.HTTPListen != "" && c.TLSCert == "" && !c.InsecureAuth && !loopbackListen(c.HTTPListen) {
		// Refused at the door, a non-loopback client's API key would
		// already have crossed the network in clear.
		return fmt.Errorf("--http-listen %s is not a loopback address: API keys would travel in clear; give --tls-cert and --tls-key (or --insecure-auth to accept that)", c.HTTPListen)
	}
	if c.ConsoleListen != "off" && c.TLSCert == "" && !c.InsecureAuth && !loopbackListen(c.ConsoleListen) {
		return fmt.Errorf("--console-listen %s is not a loopback address: tokens and session cookies would travel in clear; give --tls-cert and --tls-key (or --insecure-auth to accept that)", c.ConsoleListen)
	}
	if c.Hold < 0 {
		return fmt.Errorf("--hold must not be negative")
	}
	if c.BrakeDuplicates < 0 || c.BrakeDuplicates > auth.MaxBrakeDuplicates {
		return fmt.Errorf("--brake-duplicates %d: want 0 (off) to %d", c.BrakeDuplicates, auth.MaxBrakeDuplicates)
	}
	if c.BrakeRate < 0 || c.BrakeRate > auth.MaxBrakeRate {
		return fmt.Errorf("--brake-rate %d: want 0 (off) to %d", c.BrakeRate, auth.MaxBrakeRate)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("--delivery-concurrency must be at least 1")
	}
	if c.MaxRecipients < 1 {
		return fmt.Errorf("--max-recipients must be at least 1")
	}
	if c.MaxQueueAge <= 0 || c.Retention <= 0 || c.ShutdownTimeout <= 0 || c.UpstreamTimeout <= 0 || c.WebhookMaxAge <= 0 {
		return fmt.Errorf("--max-queue-age, --retention, --shutdown-timeout, --upstream-timeout and --webhook-max-age must be positive")
	}
	if c.MaxConns < 1 || c.MaxConnsPerIP < 1 {
		return fmt.Errorf("--max-connections and --max-connections-per-ip must be at least 1")
	}
	if c.SMTPTimeout <= 0 || c.MaxSession <= 0 {
		return fmt.Errorf("--smtp-timeout and --max-session-duration must be positive")
	}
	if c.Bounces != "on" && c.Bounces != "off" {
		return fmt.Errorf("--bounces: want on or off, got %q", c.Bounces)
	}
	if _, err := c.trustedNetworks(); err != nil {
		return err
	}
	size, err := parseSize(c.MaxMessageSize)
	if err != nil {
		return fmt.Errorf("--max-message-size: %w", err)
	}
	if n, err := parseSize(c.MaxInflight); err != nil || n < relay.MinInflightBytes(size) {
		return fmt.Errorf("--max-inflight-bytes: must be a size of at least %d bytes (twice --max-message-size plus 2MiB)", relay.MinInflightBytes(size))
	}
	if c.adminTCP() && server.CheckTokens(c.AdminTokens.tokens, true) != nil {
		return fmt.Errorf("--admin-listen %s is a TCP address, which needs --admin-tokens (or RELAY_ADMIN_TOKENS, or admin-tokens in the config file); without tokens, use unix:PATH", c.AdminListen)
	}
	if err := upstream.Check(c.Upstream); err != nil {
		return fmt.Errorf("--upstream: %w", err)
	}
	if c.UpstreamFallback != "" {
		if err := upstream.Check(c.UpstreamFallback); err != nil {
			return fmt.Errorf("--upstream-fallback: %w", err)
		}
	}
	return nil
}

// hostname is the system's host name, or localhost when it has none.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// adminTCP reports whether the admin API listens on TCP, where it needs
// a token.
func (c *config) adminTCP() bool { return !strings.HasPrefix(c.AdminListen, "unix:") }

func (c *config) trustedNetworks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedNetworks {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("--trusted-networks: %q is not an address or CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-networks: %q is not an address or CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseSize reads a positive size with the units of internal/size.
func parseSize(s string) (int64, error) {
	n, err := size.Parse(s)
	if err == nil && n == 0 {
		err = fmt.Errorf("%q: the size must be positive", s)
	}
	return n, err
}

// loopbackListen reports whether a listen address binds only loopback
// (127.0.0.0/8, ::1, localhost); an empty host binds every interface.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
