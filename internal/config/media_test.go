package config

import (
	"strings"
	"testing"
)

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "", false }
	c, err := Parse("s.yaml", []byte("media:\n  upload_limits_mb: {audio.transcriptions: 10, images.edits: 100}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Media.UploadLimitBytes()
	if len(got) != 2 || got["audio.transcriptions"] != 10<<20 || got["images.edits"] != 100<<20 {
		t.Errorf("limits %v", got)
	}
	_, err = Parse("s.yaml", []byte("media:\n  upload_limits_mb: {audio.whatever: 10, images.edits: 0}\n"), env)
	if err == nil || !strings.Contains(err.Error(), "media.upload_limits_mb.audio.whatever: unknown route") ||
		!strings.Contains(err.Error(), "media.upload_limits_mb.images.edits: must be between 1 and 4096") {
		t.Errorf("err = %v", err)
	}
}

func TestMediaS3(t *testing.T) {
	t.Parallel()
	env := func(k string) (string, bool) {
		if k == "S3_SECRET" {
			return "s3cr3t/key+x", true
		}
		return "", false
	}
	c, err := Parse("s.yaml", []byte("media:\n  s3:\n    endpoint: minio.internal:9000\n    bucket: sb-media\n    access_key_id: AKID\n    secret_access_key: ${S3_SECRET}\n    prefix: /gw/media/\n    use_ssl: false\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	want := MediaS3{Endpoint: "minio.internal:9000", Bucket: "sb-media", Region: "us-east-1", AccessKeyID: "AKID",
		SecretAccessKey: "s3cr3t/key+x", Prefix: "gw/media/", UseSSL: false}
	if c.Media.S3 == nil || *c.Media.S3 != want {
		t.Errorf("s3 = %+v", c.Media.S3)
	}
	if c, err := Parse("s.yaml", []byte("media:\n  url_ttl: 1h\n"), env); err != nil || c.Media.S3 != nil {
		t.Errorf("no s3: %+v %v", c.Media.S3, err)
	}
	cases := []struct{ name, yaml, want string }{
		{"scheme", "endpoint: https://s3.example.com\n    bucket: b-1\n    access_key_id: a\n    secret_access_key: s", "media.s3.endpoint: give host[:port] without a scheme"},
		{"path", "endpoint: s3.example.com/x\n    bucket: b-1\n    access_key_id: a\n    secret_access_key: s", "media.s3.endpoint: invalid endpoint"},
		{"no endpoint", "bucket: b-1\n    access_key_id: a\n    secret_access_key: s", "media.s3.endpoint: invalid endpoint"},
		{"bucket", "endpoint: s3.example.com\n    bucket: My_Bucket\n    access_key_id: a\n    secret_access_key: s", "media.s3.bucket: invalid bucket name"},
		{"region", "endpoint: s3.example.com\n    bucket: b-1\n    region: EU West\n    access_key_id: a\n    secret_access_key: s", "media.s3.region: invalid region"},
		{"unset secret", "endpoint: s3.example.com\n    bucket: b-1\n    access_key_id: a\n    secret_access_key: ${NOPE}", "media.s3.secret_access_key: empty key"},
		{"access key", "endpoint: s3.example.com\n    bucket: b-1\n    access_key_id: \"a b\"\n    secret_access_key: s", "media.s3.access_key_id: key contains whitespace"},
		{"use_ssl", "endpoint: s3.example.com\n    bucket: b-1\n    access_key_id: a\n    secret_access_key: s\n    use_ssl: maybe", "media.s3.use_ssl"},
		{"unknown field", "endpoint: s3.example.com\n    bucket: b-1\n    access_key_id: a\n    secret_access_key: s\n    secret: x", `unknown field "secret"`},
		{"with dir", "endpoint: s3.example.com\n    bucket: b-1\n    access_key_id: a\n    secret_access_key: s\n  dir: /tmp/m", "media.dir: set either media.dir or media.s3"},
	}
	for _, tc := range cases {
		_, err := Parse("s.yaml", []byte("media:\n  s3:\n    "+tc.yaml+"\n"), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the secret is in the message: %v", tc.name, err)
		}
	}
}
