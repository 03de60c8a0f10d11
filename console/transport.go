package console

import (
	"net/http"
	"net/http/httptest"
)

// handlerTransport answers a request by calling h in this process. The
// answer is buffered whole: fine for every call but a followed stream.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
