package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/holdrelay/relay/admin"
)

// opsData is the page of what holds mail besides single messages: pauses,
// batches, braked credentials, and where events go (webhooks).
type opsData struct {
	Pauses   []admin.Pause
	Batches  []admin.Batch
	Brakes   []admin.Brake
	Webhooks []admin.Webhook
}

func (c *Console) ops(w http.ResponseWriter, r *http.Request) {
	ctx, cl := r.Context(), c.client(sessionOf(r))
	st, err := cl.Status(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := opsData{Pauses: st.Pauses}
	if d.Batches, err = cl.Batches(ctx); err == nil {
		if d.Brakes, err = cl.Brakes(ctx); err == nil {
			d.Webhooks, err = cl.Webhooks(ctx)
		}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "ops", d)
}

// eventRow is one event of the feed.
type eventRow struct {
	admin.OutboxEvent
	admin.EventData
}

// events shows the newest events, newest first; the page reloads itself
// every few seconds (a script-free live feed: the CSP allows no fetch).
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	sel := admin.Selector{Credential: r.URL.Query().Get("credential")}
	var rows []eventRow
	err := c.client(sessionOf(r)).Events(r.Context(), admin.EventsRequest{Selector: sel}, func(e admin.OutboxEvent) error {
		row := eventRow{OutboxEvent: e}
		_ = json.Unmarshal(e.Data, &row.EventData) // what cannot be read is left blank
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	slices.Reverse(rows)
	c.render(w, r, http.StatusOK, "events", struct {
		Events     []eventRow
		Credential string
	}{rows, sel.Credential})
}

// releaseBrake is relayctl brake release NAME: the operator's call, which
// the admin API enforces whatever the page showed.
func (c *Console) releaseBrake(w http.ResponseWriter, r *http.Request) {
	req := admin.BrakeReleaseRequest{Reason: r.PostFormValue("reason")}
	if _, err := c.client(sessionOf(r)).ReleaseBrake(r.Context(), r.PathValue("name"), req); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
}

// batchChange is relayctl batch pause|resume|cancel ID. Stopping a batch
// (pause, cancel) is for support too; resuming is the operator's.
func (c *Console) batchChange(w http.ResponseWriter, r *http.Request) {
	cl := c.client(sessionOf(r))
	var change func(context.Context, string, admin.BatchChangeRequest) (admin.BatchChanged, error)
	switch r.PathValue("verb") {
	case "pause":
		change = cl.PauseBatch
	case "resume":
		change = cl.ResumeBatch
	case "cancel":
		change = cl.CancelBatch
	default:
		http.NotFound(w, r)
		return
	}
	if _, err := change(r.Context(), r.PathValue("id"), admin.BatchChangeRequest{Reason: r.PostFormValue("reason")}); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
}
