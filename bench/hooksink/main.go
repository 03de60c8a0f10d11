// Command hooksink is the webhook receiver of bench/run.sh: it answers
// every POST 200 at once and counts the events in the bodies, so that a
// receiver's own speed does not show in relayd's figures.
//
//	go run ./bench/hooksink --listen 127.0.0.1:2794
//	curl -s 127.0.0.1:2794/count   # events received so far
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:2794", "address to listen on")
	flag.Parse()
	var events atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var batch []json.RawMessage
		if err != nil || json.Unmarshal(body, &batch) != nil {
			http.Error(w, "want a JSON array of events", http.StatusBadRequest)
			return
		}
		events.Add(int64(len(batch)))
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, events.Load())
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
