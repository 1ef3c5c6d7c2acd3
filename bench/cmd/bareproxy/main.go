// Command bareproxy is the benchmark's baseline: a bare
// httputil.ReverseProxy in front of one upstream, with the same upstream
// connection pool as the gateway and immediate flushing so streams pass
// event by event. Whatever Switchboard costs beyond this is its own.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18002", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:18001", "upstream base URL")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("parse -upstream: %v", err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		// -1 flushes after every write, as an SSE relay must.
		FlushInterval: -1,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without full duplex the server may close the request body while
		// the response streams, which cuts SSE under load.
		_ = http.NewResponseController(w).EnableFullDuplex()
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("bareproxy listening on http://%s → %s", *addr, target)
	log.Fatal(srv.ListenAndServe())
}
