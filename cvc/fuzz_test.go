package cvc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"eacgate/internal/testenv"
)

// seedVectors adds every shared vector to the corpus (when the vectors are there).
func seedVectors(f *testing.F) {
	for _, pattern := range []string{"public/*.cv*", "openpace/*/*.cv*"} {
		files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "..", "shared", "vectors", pattern))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte{0x7F, 0x21, 0x84, 0x7F, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0x67, 0x03, 0x42, 0x01, 0x41})
}

func FuzzParseTLV(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tlv, rest, err := ParseTLV(b)
		if err != nil {
			return
		}
		if !bytes.Equal(append(bytes.Clone(tlv.Raw), rest...), b) {
			t.Fatal("Raw and rest do not make up the input")
		}
		if !bytes.Equal(EncodeTLV(tlv.Tag, tlv.Value), tlv.Raw) {
			t.Fatal("strictly decoded TLV does not re-encode identically")
		}
		if tlv.Tag.Constructed() {
			_, _ = ParseSequence(tlv.Value)
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			return
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("decoded certificate does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("decoded certificate does not re-encode byte for byte")
		}
		_ = c.Describe(&bytes.Buffer{})
		if key, err := c.PublicKey.Key(nil); err == nil {
			_ = c.CheckSignature(key, c.PublicKey.Algorithm)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("decoded request does not re-encode byte for byte")
		}
		_ = r.Describe(&bytes.Buffer{})
		_ = r.VerifyInner(nil)
	})
}
