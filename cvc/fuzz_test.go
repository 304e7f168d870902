package cvc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"eacgate/internal/testenv"
)

// seedVectors adds every certificate and request vector (testdata/vectors) to the corpus.
func seedVectors(f *testing.F) {
	f.Helper()
	n := 0
	for _, pattern := range []string{"public/*.cv*", "openpace/*/*.cv*"} {
		files, err := filepath.Glob(testenv.Vector(f, pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	// The vectors are in the checkout: finding none means the corpus lost its seeds.
	if n < 40 {
		f.Fatalf("found only %d seed vectors", n)
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
