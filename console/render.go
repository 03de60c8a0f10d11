package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// errorPage is the page for a refusal or a failure.
type errorPage struct {
	Title, Message string
}

// view is what every template gets: the page's data and the frame's.
type view struct {
	Nonce    string
	Session  session
	SignedIn bool
	Operator bool
	Data     any
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	// secs is a time left as relayd counted it, in seconds, for the
	// countdown: the browser's clock may not agree with relayd's.
	"secs": func(d string) int64 { v, _ := time.ParseDuration(d); return int64(v.Seconds()) },
	"join": strings.Join,
}

// parsePages parses each page with the layout, once.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages := map[string]*template.Template{}
	for _, name := range []string{"signin", "link", "error", "queue", "message", "confirm", "result", "audit", "credentials", "rotated", "ops", "events"} {
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return pages
}

// render writes page with data, framed by the layout. It renders into a
// buffer first, so that a template error is a clean 500, not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	s := sessionOf(r)
	v := view{Nonce: nonceOf(r), Session: s, SignedIn: s.name != "", Operator: s.operator(), Data: data}
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		c.log.Error("console page", "page", page, "err", err)
		http.Error(w, "internal error; relayd's log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail shows an admin API error as a page with the API's own words and
// status: a refusal for the role, a bad filter, a missing message.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *admin.APIError
	if errors.As(err, &ae) {
		title := "Refused"
		switch ae.Status {
		case http.StatusForbidden:
			title = "Not allowed for your role"
		case http.StatusNotFound:
			title = "Not found"
		case http.StatusBadRequest:
			title = "Bad input"
		}
		if ae.Status >= 500 {
			title = "relayd could not do this"
		}
		c.render(w, r, ae.Status, "error", errorPage{Title: title, Message: ae.Message + " Nothing was changed."})
		return
	}
	c.log.Error("console request", "path", r.URL.Path, "err", err)
	c.render(w, r, http.StatusInternalServerError, "error", errorPage{Title: "Error", Message: "internal error; relayd's log has the details"})
}

func linkMessage(err error) string {
	switch {
	case errors.Is(err, spool.ErrLinkUsed):
		return "This sign-in link was already used: each link works once. Ask for a new one (relayctl console-link)."
	case errors.Is(err, spool.ErrLinkExpired):
		return "This sign-in link has expired: links work for 15 minutes. Ask for a new one (relayctl console-link)."
	case errors.Is(err, spool.ErrNotFound):
		return "This sign-in link is not known to relayd. Check that it was copied whole, or ask for a new one (relayctl console-link)."
	}
	return "This sign-in link could not be checked; relayd's log has the details."
}

func itoa(n int) string { return strconv.Itoa(n) }
