package mediastore

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// FuzzOpen: whatever the key and object parts of a link, even correctly
// signed (the signing key leaked), Open finds only the object stored
// under that name in that key's directory — never the signing key or
// another key's object.
func FuzzOpen(f *testing.F) {
	for _, seed := range []struct{ key, id string }{
		{"1", "x.png"}, {"1", "../.key"}, {"1", ".key"}, {"..", ".key"}, {"1", "..%2f.key"},
		{"-1", "x.png"}, {"01", "x.png"}, {"1", "a/../../.key"}, {"2", "x.png"},
	} {
		f.Add(seed.key, seed.id)
	}
	dir := f.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	id, _, err := s.Put(2, "image/png", []byte("KEY-2"))
	if err != nil {
		f.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	f.Fuzz(func(t *testing.T, keyPart, objID string) {
		keyID, perr := strconv.ParseInt(keyPart, 10, 64)
		sig := s.sign(keyID, objID, exp)
		obj, err := s.Open(context.Background(), keyPart, objID, strconv.FormatInt(exp, 10), sig)
		if err != nil {
			return
		}
		obj.Body.Close()
		if perr != nil || keyID != 2 || objID != id || obj.Size != 5 {
			t.Errorf("Open(%q, %q) found an object of %d bytes", keyPart, objID, obj.Size)
		}
	})
}
