package mediastore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Backend is where a store keeps its objects: a local directory (the
// default, NewDir) or an S3-compatible bucket (NewS3). Names are
// slash-separated ("7/1800000000-ab12….png"); a name whose last element
// starts with "." (the signing key, ".key") is the store's own and never
// listed.
type Backend interface {
	// Put stores size bytes of r (size < 0: unknown) under name.
	Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error
	// Get opens name; a missing object is ErrNotFound. The caller closes
	// the reader.
	Get(ctx context.Context, name string) (io.ReadCloser, Info, error)
	// Delete removes name; a missing object is no error.
	Delete(ctx context.Context, name string) error
	// List returns the objects whose names start with prefix ("" or a
	// key's "7/").
	List(ctx context.Context, prefix string) ([]Info, error)
}

// Info describes a stored object.
type Info struct {
	Name        string
	Size        int64
	ContentType string // "" when the backend does not keep it
	Modified    time.Time
}

// dirBackend keeps objects as files under a directory.
type dirBackend struct{ root string }

// NewDir returns the local-directory backend rooted at dir (created).
func NewDir(dir string) (Backend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mediastore: %w", err)
	}
	return dirBackend{root: dir}, nil
}

func (d dirBackend) path(name string) (string, error) {
	if name == "" || strings.Contains(name, `\`) || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return "", ErrNotFound
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d dirBackend) Put(ctx context.Context, name string, r io.Reader, _ int64, _ string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("mediastore: %w", err)
	}
	// Written aside and renamed, so that no reader sees half an object.
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("mediastore: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("mediastore: %w", err)
	}
	return nil
}

func (d dirBackend) Get(_ context.Context, name string) (io.ReadCloser, Info, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Info{}, ErrNotFound
		}
		return nil, Info{}, fmt.Errorf("mediastore: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, ErrNotFound
	}
	return f, Info{Name: name, Size: st.Size(), Modified: st.ModTime()}, nil
}

func (d dirBackend) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mediastore: %w", err)
	}
	return nil
}

func (d dirBackend) List(ctx context.Context, prefix string) ([]Info, error) {
	root := d.root
	if dir, _, ok := strings.Cut(prefix, "/"); ok {
		root = filepath.Join(d.root, filepath.FromSlash(dir))
	}
	var out []Info
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, Info{Name: name, Size: info.Size(), Modified: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mediastore: %w", err)
	}
	return out, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
