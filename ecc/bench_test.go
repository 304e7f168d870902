package ecc

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

func BenchmarkSign(b *testing.B) {
	for _, c := range Curves() {
		b.Run(c.Name(), func(b *testing.B) {
			k, _ := GenerateKey(c, rand.Reader)
			digest := sha256.Sum256([]byte("bench"))
			for b.Loop() {
				if _, _, err := k.SignRS(rand.Reader, digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, c := range Curves() {
		b.Run(c.Name(), func(b *testing.B) {
			k, _ := GenerateKey(c, rand.Reader)
			digest := sha256.Sum256([]byte("bench"))
			r, s, _ := k.SignRS(rand.Reader, digest[:])
			pub := k.PublicKey()
			for b.Loop() {
				if !pub.Verify(digest[:], r, s) {
					b.Fatal("verify failed")
				}
			}
		})
	}
}
