package mediastore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure the S3-compatible backend.
type S3Options struct {
	// Endpoint is host[:port] ("s3.amazonaws.com", "minio.internal:9000").
	Endpoint string
	Bucket   string
	Region   string // "": us-east-1
	// AccessKeyID and SecretAccessKey sign every request (AWS SigV4).
	AccessKeyID     string
	SecretAccessKey string
	// Prefix is prepended to every object name ("switchboard/media/").
	Prefix string
	UseSSL bool
	// Transport is the HTTP transport (tests); nil is minio's default.
	Transport http.RoundTripper
}

// s3Backend keeps objects in a bucket through the MinIO client.
type s3Backend struct {
	c      *minio.Client
	bucket string
	prefix string
}

// NewS3 returns the S3-compatible backend. It makes no request.
func NewS3(o S3Options) (Backend, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, ""),
		Secure:    o.UseSSL,
		Region:    o.Region,
		Transport: o.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("mediastore: s3: %w", err)
	}
	return s3Backend{c: c, bucket: o.Bucket, prefix: o.Prefix}, nil
}

func (b s3Backend) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	_, err := b.c.PutObject(ctx, b.bucket, b.prefix+name, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("mediastore: s3 put: %w", err)
	}
	return nil
}

func (b s3Backend) Get(ctx context.Context, name string) (io.ReadCloser, Info, error) {
	obj, err := b.c.GetObject(ctx, b.bucket, b.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, b.err("get", err)
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, Info{}, b.err("get", err)
	}
	return obj, Info{Name: name, Size: st.Size, ContentType: st.ContentType, Modified: st.LastModified}, nil
}

func (b s3Backend) Delete(ctx context.Context, name string) error {
	if err := b.c.RemoveObject(ctx, b.bucket, b.prefix+name, minio.RemoveObjectOptions{}); err != nil {
		if err := b.err("delete", err); !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

func (b s3Backend) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	for oi := range b.c.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, b.err("list", oi.Err)
		}
		name := strings.TrimPrefix(oi.Key, b.prefix)
		if i := strings.LastIndexByte(name, '/'); strings.HasPrefix(name[i+1:], ".") {
			continue
		}
		out = append(out, Info{Name: name, Size: oi.Size, ContentType: oi.ContentType, Modified: oi.LastModified})
	}
	return out, nil
}

func (b s3Backend) err(op string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return ErrNotFound
	}
	return fmt.Errorf("mediastore: s3 %s: %w", op, err)
}
