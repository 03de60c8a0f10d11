package mailapi

import (
	"encoding/json"
)

// request is SendGrid's v3 Mail Send body. Fields relay cannot honour are
// kept raw, so that their presence can be refused by name.
type request struct {
	Personalizations []personalization `json:"personalizations"`
	From             *address          `json:"from"`
	ReplyTo          *address          `json:"reply_to"`
	ReplyToList      []address         `json:"reply_to_list"`
	Subject          string            `json:"subject"`
	Content          []content         `json:"content"`
	Attachments      []attachment      `json:"attachments"`
	Headers          map[string]string `json:"headers"`
	Categories       []string          `json:"categories"`
	CustomArgs       map[string]string `json:"custom_args"`
	SendAt           int64             `json:"send_at"`
	BatchID          string            `json:"batch_id"`
	MailSettings     *mailSettings     `json:"mail_settings"`
	TrackingSettings json.RawMessage   `json:"tracking_settings"`

	TemplateID json.RawMessage `json:"template_id"`
	Sections   json.RawMessage `json:"sections"`
	ASM        json.RawMessage `json:"asm"`
	IPPoolName json.RawMessage `json:"ip_pool_name"`
}

type personalization struct {
	To         []address         `json:"to"`
	Cc         []address         `json:"cc"`
	Bcc        []address         `json:"bcc"`
	From       *address          `json:"from"`
	Subject    string            `json:"subject"`
	Headers    map[string]string `json:"headers"`
	CustomArgs map[string]string `json:"custom_args"`
	Categories []string          `json:"categories"`
	SendAt     int64             `json:"send_at"`

	Substitutions       json.RawMessage `json:"substitutions"`
	DynamicTemplateData json.RawMessage `json:"dynamic_template_data"`
}

type address struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type attachment struct {
	Content     string `json:"content"`
	Type        string `json:"type"`
	Filename    string `json:"filename"`
	Name        string `json:"name"` // an old alias of filename, which wins
	Disposition string `json:"disposition"`
	ContentID   string `json:"content_id"`
}

type mailSettings struct {
	SandboxMode *struct {
		Enable json.RawMessage `json:"enable"`
	} `json:"sandbox_mode"`
	// Settings about SendGrid's suppression lists: relay keeps none, so
	// bypassing them changes nothing.
	BypassListManagement        json.RawMessage `json:"bypass_list_management"`
	BypassSpamManagement        json.RawMessage `json:"bypass_spam_management"`
	BypassBounceManagement      json.RawMessage `json:"bypass_bounce_management"`
	BypassUnsubscribeManagement json.RawMessage `json:"bypass_unsubscribe_management"`
	Footer                      json.RawMessage `json:"footer"`
	BCC                         json.RawMessage `json:"bcc"`
	SpamCheck                   json.RawMessage `json:"spam_check"`
}

// Error is one entry of SendGrid's error body.
type Error struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    *string `json:"help"`
}

// errorBody is SendGrid's error response: {"errors": [...]}.
type errorBody struct {
	Errors []Error `json:"errors"`
}

func fieldErr(field, msg string) Error {
	e := Error{Message: msg}
	if field != "" {
		e.Field = &field
	}
	return e
}
