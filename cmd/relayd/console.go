package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/console"
)

// listenConsole opens --console-listen, unless it is off. A busy port is
// an error that says what to do: relayd never picks another port, since
// people and links expect the one they were given.
func listenConsole(addr string, tlsCfg *tls.Config) (net.Listener, string, error) {
	if addr == "off" {
		return nil, "", nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%w (is another relayd or a mail console such as Mailpit on it? give --console-listen another address, or off)", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		l, scheme = tls.NewListener(l, tlsCfg), "https"
	}
	return l, scheme + "://" + l.Addr().String(), nil
}

// consoleServer serves the web console with strict timeouts, like the
// admin API: a bulk change may take long, so the write timeout is the
// admin API's slow one.
func consoleServer(adm *server.Server, log *slog.Logger) *http.Server {
	c := console.New(console.Options{Admin: adm, Log: log})
	return &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      11 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func serveConsole(hs *http.Server, l net.Listener) error {
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// printFirstLink prints a one-time operator sign-in link on relayd's
// first start, beside the first credential.
func printFirstLink(adm *server.Server, stdout io.Writer) error {
	l, err := adm.NewConsoleLink("system", server.RoleOperator)
	if err != nil {
		return fmt.Errorf("first console sign-in link: %w", err)
	}
	fmt.Fprintf(stdout, "relayd: web console sign-in link, good once for %s:\n  %s\n", l.Expires.Sub(time.Now()).Round(time.Minute), l.URL)
	return nil
}
