package mailapi

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// TestSendGridGoClient drives the API with SendGrid's own Go library, as
// an application does, with only the base URL (and the key) changed.
func TestSendGridGoClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})

	// SendGrid's README example, unchanged but for the host.
	from := sgmail.NewEmail("Example User", "test@example.com")
	to := sgmail.NewEmail("Example User", "test@example.org")
	message := sgmail.NewSingleEmail(from, "Sending with SendGrid is Fun", to,
		"and easy to do anywhere, even with Go", "<strong>and easy to do anywhere, even with Go</strong>")
	a := sgmail.NewAttachment()
	a.SetContent(base64.StdEncoding.EncodeToString([]byte("col1,col2\n1,2\n")))
	a.SetType("text/csv")
	a.SetFilename("report.csv")
	message.AddAttachment(a)
	message.AddCategories("reports")
	message.SetCustomArg("account", "17")

	client := sendgrid.NewSendClient(h.key)
	client.BaseURL = h.url + "/v3/mail/send"
	res, err := client.Send(message)
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("Send: %v, %+v", err, res)
	}
	id, err := spool.ParseID(res.Headers["X-Message-Id"][0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.spool.Get(id)
	if err != nil || m.Subject != "Sending with SendGrid is Fun" || m.Categories[0] != "reports" || m.UniqueArgs["account"] != "17" {
		t.Fatalf("spooled %+v, %v", m, err)
	}
	up := h.deliver(1)[0]
	parts := mimeParts(t, parseMail(t, up.Data))
	if len(parts) != 3 || parts[1].body != "<strong>and easy to do anywhere, even with Go</strong>\r\n" ||
		parts[2].filename != "report.csv" || parts[2].body != "col1,col2\n1,2\n" {
		t.Errorf("parts %+v", parts)
	}

	// The batch API of the same library, and a send naming the batch.
	req := sendgrid.GetRequest(h.key, "/v3/mail/batch", h.url)
	req.Method = "POST"
	res, err = sendgrid.API(req)
	if err != nil || res.StatusCode != http.StatusCreated || !strings.Contains(res.Body, "batch_id") {
		t.Fatalf("batch: %v %+v", err, res)
	}

	// A wrong key: the library reports SendGrid's 401 as SendGrid's.
	bad := sendgrid.NewSendClient(h.key + "x")
	bad.BaseURL = client.BaseURL
	res, err = bad.Send(message)
	if err != nil || res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Body, `"errors"`) {
		t.Errorf("wrong key: %v %+v", err, res)
	}
}
