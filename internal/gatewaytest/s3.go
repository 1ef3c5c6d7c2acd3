package gatewaytest

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// S3 is one bucket of a fake S3-compatible server: PUT, GET, HEAD and
// DELETE of objects and ListObjectsV2, path-style. Every request must
// carry an AWS SigV4 Authorization header for its access key, else it is
// refused with AccessDenied.
type S3 struct {
	// Addr is the server's host:port (an S3 client's endpoint).
	Addr string

	bucket, accessKey string

	mu       sync.Mutex
	objects  map[string]fakeObject
	requests int
}

type fakeObject struct {
	data        []byte
	contentType string
	modified    time.Time
}

// NewS3 starts a fake S3 server holding bucket, for accessKey.
func NewS3(t testing.TB, bucket, accessKey string) *S3 {
	f := &S3{bucket: bucket, accessKey: accessKey, objects: map[string]fakeObject{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.Addr = srv.Listener.Addr().String()
	return f
}

// Object returns a stored object's bytes and content type.
func (f *S3) Object(key string) ([]byte, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[key]
	return o.data, o.contentType, ok
}

// Keys returns the names of the stored objects, sorted.
func (f *S3) Keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.objects))
}

// Requests is how many requests the server has answered.
func (f *S3) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *S3) fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, code)
}

func (f *S3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+f.accessKey+"/") ||
		!strings.Contains(auth, "SignedHeaders=") || !strings.Contains(auth, "Signature=") ||
		r.Header.Get("X-Amz-Date") == "" {
		f.fail(w, http.StatusForbidden, "AccessDenied")
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != f.bucket {
		f.fail(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	switch {
	case key == "" && r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		f.list(w, r.URL.Query())
	case key == "":
		f.fail(w, http.StatusNotImplemented, "NotImplemented")
	case r.Method == http.MethodPut:
		data, err := readPayload(r)
		if err != nil {
			f.fail(w, http.StatusBadRequest, "IncompleteBody")
			return
		}
		f.objects[key] = fakeObject{data: data, contentType: r.Header.Get("Content-Type"), modified: time.Now().UTC()}
		w.Header().Set("ETag", `"`+strconv.Itoa(len(data))+`"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		o, ok := f.objects[key]
		if !ok {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			f.fail(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("Content-Type", o.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		w.Header().Set("Last-Modified", o.modified.Format(http.TimeFormat))
		w.Header().Set("ETag", `"`+strconv.Itoa(len(o.data))+`"`)
		if r.Method == http.MethodGet {
			_, _ = w.Write(o.data)
		}
	case r.Method == http.MethodDelete:
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.fail(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
}

func (f *S3) list(w http.ResponseWriter, q url.Values) {
	type content struct {
		Key          string
		LastModified string
		ETag         string
		Size         int
		StorageClass string
	}
	res := struct {
		XMLName     xml.Name `xml:"ListBucketResult"`
		Name        string
		Prefix      string
		KeyCount    int
		MaxKeys     int
		IsTruncated bool
		Contents    []content
	}{Name: f.bucket, Prefix: q.Get("prefix"), MaxKeys: 1000}
	for _, k := range slices.Sorted(maps.Keys(f.objects)) {
		if !strings.HasPrefix(k, q.Get("prefix")) {
			continue
		}
		o := f.objects[k]
		res.Contents = append(res.Contents, content{Key: k, LastModified: o.modified.Format(time.RFC3339), ETag: `"x"`, Size: len(o.data), StorageClass: "STANDARD"})
	}
	res.KeyCount = len(res.Contents)
	w.Header().Set("Content-Type", "application/xml")
	_ = xml.NewEncoder(w).Encode(res)
}

// readPayload reads a PUT body, decoding aws-chunked (the streaming
// signature minio-go uses over plain HTTP).
func readPayload(r *http.Request) ([]byte, error) {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return io.ReadAll(r.Body)
	}
	br := bufio.NewReader(r.Body)
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		chunk := make([]byte, n+2) // data and CRLF
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, err
		}
		out = append(out, chunk[:n]...)
	}
}
