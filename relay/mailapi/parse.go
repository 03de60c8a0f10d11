package mailapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/relay/smtpapi"
)

// Bounds of a request, beyond relay's own (recipients per message, message
// size). SendGrid's: at most 1000 personalizations, 1000 recipients in all.
const (
	maxPersonalizations = 1000
	maxRecipientsTotal  = 1000
	maxErrors           = 20
	maxCustomArgs       = 10000 // bytes of custom_args per message, as SendGrid
	maxHeaderName       = 76
	maxNameLen          = 256
)

// parsed is a request decoded and checked: one draft per personalization.
type parsed struct {
	sandbox bool
	drafts  []draft
}

// draft is one message to build.
type draft struct {
	from        address
	replyTo     []address
	to, cc      []address
	rcpts       []string // the envelope: to, cc and bcc, each once
	subject     string
	headers     map[string]string // custom headers, name as given
	contents    []content
	attachments []decoded
	opts        smtpapi.Options
}

type decoded struct {
	attachment
	data []byte
}

// checker collects the errors of one request, as SendGrid reports several
// at once.
type checker struct {
	errs []Error
	now  time.Time
	// maxRcpts is relay's recipients per message.
	maxRcpts int
}

func (c *checker) fail(field, format string, args ...any) {
	if len(c.errs) < maxErrors {
		c.errs = append(c.errs, fieldErr(field, fmt.Sprintf(format, args...)))
	}
}

// parse decodes and checks a Mail Send body. Its errors are the 400's.
func parse(body []byte, now time.Time, maxRcpts int) (*parsed, []Error) {
	var req request
	if err := decode(body, &req); err != nil {
		return nil, []Error{*err}
	}
	c := &checker{now: now, maxRcpts: maxRcpts}
	p := &parsed{sandbox: c.sandbox(req.MailSettings)}
	c.unsupported(&req)
	c.common(&req)
	if len(req.Personalizations) == 0 {
		c.fail("personalizations", "The personalizations field is required and must have at least one personalization.")
	} else if len(req.Personalizations) > maxPersonalizations {
		c.fail("personalizations", "You may not have more than %d personalizations per request.", maxPersonalizations)
	}
	atts := c.attachments(req.Attachments)
	total := 0
	for i := range req.Personalizations {
		if i >= maxPersonalizations {
			break
		}
		d, n := c.personalization(&req, i)
		total += n
		d.attachments = atts
		p.drafts = append(p.drafts, d)
	}
	if total > maxRecipientsTotal {
		c.fail("personalizations", "A request may have at most %d recipients in all (to, cc and bcc of every personalization).", maxRecipientsTotal)
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return p, nil
}

// decode reads the JSON strictly: one object, no unknown field (a typo
// must be reported, not ignored), nothing after it.
func decode(body []byte, req *request) *Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(req)
	if err == nil {
		if _, e := dec.Token(); e != io.EOF {
			err = errors.New("text after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		e := fieldErr(te.Field, fmt.Sprintf("The %s field must be of type %s, not %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value))
		return &e
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		e := fieldErr(name, fmt.Sprintf("Unknown field %q: relay does not know it, and will not guess what it asks for.", name))
		return &e
	}
	e := fieldErr("", "The request body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
	return &e
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	case "int64", "int":
		return "integer"
	}
	return k
}

func (c *checker) sandbox(ms *mailSettings) bool {
	if ms == nil || ms.SandboxMode == nil || ms.SandboxMode.Enable == nil {
		return false
	}
	switch string(ms.SandboxMode.Enable) {
	case "true":
		return true
	case "false":
		return false
	}
	c.fail("mail_settings.sandbox_mode.enable", "The sandbox mode enable param should be a boolean value.")
	return true // validate only: sending on a malformed flag would be the worse guess
}

// unsupported refuses, by name, what relay cannot do.
func (c *checker) unsupported(req *request) {
	refuse := func(raw json.RawMessage, field, what string) {
		if present(raw) {
			c.fail(field, "%s is not supported by relay: it would change what is sent, so the request is refused rather than sent without it.", what)
		}
	}
	refuse(req.TemplateID, "template_id", "Templates (template_id)")
	refuse(req.Sections, "sections", "Sections")
	refuse(req.ASM, "asm", "Unsubscribe groups (asm)")
	refuse(req.IPPoolName, "ip_pool_name", "IP pools (ip_pool_name)")
	if enabled(req.TrackingSettings) {
		c.fail("tracking_settings", "Tracking (tracking_settings) is not supported by relay: it rewrites the message; disable it or leave it out.")
	}
	if ms := req.MailSettings; ms != nil && enabled(ms.Footer) {
		c.fail("mail_settings.footer", "Footers (mail_settings.footer) are not supported by relay: put the footer in the content.")
	}
	if ms := req.MailSettings; ms != nil && enabled(ms.BCC) {
		c.fail("mail_settings.bcc", "The BCC mail setting is not supported by relay: give the address in bcc.")
	}
	for i, p := range req.Personalizations {
		refuse(p.Substitutions, fmt.Sprintf("personalizations.%d.substitutions", i), "Substitutions")
		refuse(p.DynamicTemplateData, fmt.Sprintf("personalizations.%d.dynamic_template_data", i), "Dynamic template data")
	}
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null" && s != `""` && s != "{}" && s != "[]"
}

// enabled reports whether a settings object turns anything on: any
// "enable": true within it, at any depth.
func enabled(raw json.RawMessage) bool {
	if !present(raw) {
		return false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return true // malformed: refuse rather than guess
	}
	return anyEnabled(v)
}

func anyEnabled(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for k, x := range m {
		if b, isBool := x.(bool); k == "enable" && isBool && b {
			return true
		}
		if anyEnabled(x) {
			return true
		}
	}
	return false
}

// common checks the fields that apply to every personalization.
func (c *checker) common(req *request) {
	if req.From == nil || req.From.Email == "" {
		c.fail("from.email", "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.")
	} else {
		c.address("from", *req.From)
	}
	if req.ReplyTo != nil {
		c.address("reply_to", *req.ReplyTo)
		if len(req.ReplyToList) > 0 {
			c.fail("reply_to_list", "reply_to and reply_to_list cannot both be given.")
		}
	}
	for i, a := range req.ReplyToList {
		c.address(fmt.Sprintf("reply_to_list.%d", i), a)
	}
	c.contents(req.Content)
	c.headers("headers", req.Headers)
	if len(req.Categories) > 10 {
		c.fail("categories", "You may not have more than 10 categories per request.")
	}
	for i, cat := range req.Categories {
		if !smtpapi.ValidCategory(cat) {
			c.fail(fmt.Sprintf("categories.%d", i), "A category must be 1 to %d bytes of printable UTF-8.", smtpapi.MaxCategory)
		}
	}
	if req.BatchID != "" {
		if err := smtpapi.CheckBatchID("batch_id", req.BatchID); err != nil {
			c.fail("batch_id", "%s", err)
		}
	}
	if req.SendAt != 0 {
		c.sendAt("send_at", req.SendAt)
	}
}

func (c *checker) sendAt(field string, unix int64) time.Time {
	t, err := smtpapi.SendAt(field, unix, c.now)
	if err != nil {
		c.fail(field, "%s", err)
	}
	return t
}

func (c *checker) address(field string, a address) {
	if !relay.ValidAddress(a.Email) {
		c.fail(field+".email", "Does not contain a valid address (relay takes ASCII addresses local@domain).")
	}
	if len(a.Name) > maxNameLen || !utf8.ValidString(a.Name) || strings.ContainsAny(a.Name, "\r\n\x00") {
		c.fail(field+".name", "A name is at most %d bytes of UTF-8, on one line.", maxNameLen)
	}
}

func (c *checker) contents(cs []content) {
	if len(cs) == 0 {
		c.fail("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.")
	}
	seen := map[string]bool{}
	for i, ct := range cs {
		field := fmt.Sprintf("content.%d", i)
		switch t := strings.ToLower(ct.Type); {
		case t != "text/plain" && t != "text/html":
			c.fail(field+".type", "relay sends text/plain and text/html content; %q is not supported.", clip(ct.Type))
		case seen[t]:
			c.fail(field+".type", "Only one content block of each type (text/plain, text/html) may be given.")
		default:
			seen[t] = true
		}
		if ct.Value == "" {
			c.fail(field+".value", "The content value must be a string at least one character in length.")
		} else if !utf8.ValidString(ct.Value) {
			c.fail(field+".value", "The content value must be valid UTF-8.")
		}
	}
}

// reserved are the headers relay writes itself, or that SendGrid
// refuses, or that carry instructions to relay rather than to the
// recipient: they may not be set through headers.
var reserved = map[string]bool{
	"x-sg-id": true, "x-sg-eid": true, "received": true, "dkim-signature": true,
	"content-type": true, "content-transfer-encoding": true, "mime-version": true,
	"to": true, "from": true, "subject": true, "reply-to": true, "cc": true, "bcc": true,
	"date": true, "sender": true, "return-path": true,
	"x-smtpapi": true, "x-relay-batch": true, "x-relay-send-at": true,
}

func (c *checker) headers(field string, h map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		f := field + "." + name
		switch {
		case !validHeaderName(name):
			c.fail(f, "A header name is 1 to %d printable ASCII characters without ':' or spaces.", maxHeaderName)
		case reserved[strings.ToLower(name)]:
			c.fail(f, "The header %s is reserved: relay writes it from the request's own fields.", clip(name))
		case !utf8.ValidString(h[name]) || strings.ContainsAny(h[name], "\r\n\x00"):
			c.fail(f, "A header value is UTF-8 on one line (no CR, LF or NUL).")
		case strings.EqualFold(name, "message-id") && !validMessageID(h[name]):
			c.fail(f, "A Message-ID is <left@right>, in ASCII without spaces.")
		}
	}
}

func validHeaderName(name string) bool {
	if name == "" || len(name) > maxHeaderName {
		return false
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b <= ' ' || b >= 0x7f || b == ':' {
			return false
		}
	}
	return true
}

func validMessageID(v string) bool {
	if len(v) < 5 || v[0] != '<' || v[len(v)-1] != '>' {
		return false
	}
	inner := v[1 : len(v)-1]
	l, r, found := strings.Cut(inner, "@")
	if !found || l == "" || r == "" || len(v) > 250 {
		return false
	}
	for i := 0; i < len(inner); i++ {
		if b := inner[i]; b <= ' ' || b >= 0x7f || b == '<' || b == '>' {
			return false
		}
	}
	return true
}

func (c *checker) attachments(as []attachment) []decoded {
	out := make([]decoded, 0, len(as))
	for i, a := range as {
		field := fmt.Sprintf("attachments.%d", i)
		if a.Filename == "" {
			a.Filename = a.Name
		}
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil || a.Content == "" {
			c.fail(field+".content", "The attachment content must be base64 encoded.")
		}
		if a.Filename == "" || len(a.Filename) > 255 || !utf8.ValidString(a.Filename) || strings.ContainsAny(a.Filename, "\r\n\x00\"\\/") {
			c.fail(field+".filename", "The attachment filename is required: 1 to 255 bytes, without quotes, slashes or line breaks.")
		}
		if a.Type != "" && !validMediaType(a.Type) {
			c.fail(field+".type", "The attachment type must be a MIME type such as application/pdf.")
		}
		switch a.Disposition {
		case "", "attachment":
		case "inline":
			if a.ContentID == "" {
				c.fail(field+".content_id", "The content_id parameter is required if disposition is set to inline.")
			}
		default:
			c.fail(field+".disposition", "The disposition is inline or attachment.")
		}
		if a.ContentID != "" && !validToken(a.ContentID) {
			c.fail(field+".content_id", "A content_id is printable ASCII without spaces or angle brackets.")
		}
		out = append(out, decoded{attachment: a, data: data})
	}
	return out
}

func validMediaType(t string) bool {
	typ, sub, ok := strings.Cut(t, "/")
	return ok && validToken(typ) && validToken(sub) && !strings.ContainsAny(t, ";,")
}

func validToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || b == '<' || b == '>' || b == '"' {
			return false
		}
	}
	return true
}

// personalization checks one personalization and makes its draft; n is
// its recipients.
func (c *checker) personalization(req *request, i int) (draft, int) {
	p := &req.Personalizations[i]
	field := fmt.Sprintf("personalizations.%d", i)
	d := draft{to: p.To, cc: p.Cc, contents: req.Content, subject: req.Subject,
		opts: smtpapi.Options{Batch: req.BatchID, Categories: dedupe(req.Categories)}}
	if req.From != nil {
		d.from = *req.From
	}
	if p.From != nil {
		c.address(field+".from", *p.From)
		d.from = *p.From
	}
	d.replyTo = req.ReplyToList
	if req.ReplyTo != nil {
		d.replyTo = []address{*req.ReplyTo}
	}
	if p.Subject != "" {
		d.subject = p.Subject
	}
	if d.subject == "" {
		c.fail(field+".subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.")
	} else if !utf8.ValidString(d.subject) || strings.ContainsAny(d.subject, "\r\n\x00") {
		c.fail(field+".subject", "The subject is UTF-8 on one line (no CR, LF or NUL).")
	}
	if len(p.To) == 0 {
		c.fail(field+".to", "The to array is required for all personalization objects, and must have at least one email object with a valid email address.")
	}
	c.headers(field+".headers", p.Headers)
	d.headers = mergedHeaders(req.Headers, p.Headers)
	if len(p.Categories) > 0 {
		d.opts.Categories = dedupe(append(slices.Clone(d.opts.Categories), p.Categories...))
		for j, cat := range p.Categories {
			if !smtpapi.ValidCategory(cat) {
				c.fail(fmt.Sprintf("%s.categories.%d", field, j), "A category must be 1 to %d bytes of printable UTF-8.", smtpapi.MaxCategory)
			}
		}
	}
	d.opts.UniqueArgs = merged(req.CustomArgs, p.CustomArgs)
	if n := argsSize(d.opts.UniqueArgs); n > maxCustomArgs {
		c.fail(field+".custom_args", "The custom_args of a message may total at most %d bytes.", maxCustomArgs)
	}
	for k := range d.opts.UniqueArgs {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(d.opts.UniqueArgs[k]) {
			c.fail(field+".custom_args", "custom_args keys and values are non-empty UTF-8 strings.")
			break
		}
	}
	if req.SendAt != 0 {
		d.opts.SendAt = time.Unix(req.SendAt, 0).UTC()
	}
	if p.SendAt != 0 {
		d.opts.SendAt = c.sendAt(field+".send_at", p.SendAt)
	}
	d.rcpts = c.recipients(field, p)
	if len(d.rcpts) > c.maxRcpts {
		c.fail(field, "A message may have at most %d recipients (to, cc and bcc).", c.maxRcpts)
	}
	return d, len(d.rcpts)
}

// recipients checks the addresses of a personalization and returns its
// envelope. SendGrid refuses an address given twice in one.
func (c *checker) recipients(field string, p *personalization) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range []struct {
		name  string
		addrs []address
	}{{"to", p.To}, {"cc", p.Cc}, {"bcc", p.Bcc}} {
		for j, a := range list.addrs {
			f := fmt.Sprintf("%s.%s.%d", field, list.name, j)
			c.address(f, a)
			key := strings.ToLower(a.Email)
			if seen[key] {
				c.fail(f+".email", "Each email address in the personalization block should be unique between to, cc, and bcc.")
				continue
			}
			seen[key] = true
			out = append(out, a.Email)
		}
	}
	return out
}

func merged(base, over map[string]string) map[string]string {
	if len(base)+len(over) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}

// mergedHeaders is merged for header fields, whose names are
// case-insensitive: a personalization's X-Tag replaces the request's
// x-tag rather than adding a second field beside it.
func mergedHeaders(base, over map[string]string) map[string]string {
	out := merged(base, nil)
	for name, v := range over {
		for k := range out {
			if strings.EqualFold(k, name) {
				delete(out, k)
			}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = v
	}
	return out
}

func argsSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// clip keeps an echoed value short and printable.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
