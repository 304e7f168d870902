package hsm_test

import (
	"context"
	"testing"

	"eacgate/hsm"
	"eacgate/hsm/softhsmtest"
)

// BenchmarkSign measures signatures per second (metric sig/s) through SoftHSM2 and the
// software keystore, one goroutine at a time (serial) and with b.RunParallel (GOMAXPROCS
// goroutines; the PKCS#11 pool has GOMAXPROCS sessions).
//
//	go test -run '^$' -bench Sign -benchtime 2s ./hsm/
func BenchmarkSign(b *testing.B) {
	tok := softhsmtest.NewToken(b, "bench")
	backends := []struct {
		name string
		ks   hsm.Keystore
	}{
		{"softhsm2", openToken(b, tok, 0)},
		{"soft", openSoft(b, b.TempDir(), "benchmark passphrase")},
	}
	keys := []struct {
		name string
		spec hsm.KeySpec
	}{specs[0], specs[1], specs[6]}
	ctx := context.Background()
	for _, be := range backends {
		for _, k := range keys {
			s, err := be.ks.Generate(ctx, "bench-"+k.name, k.spec)
			if err != nil {
				b.Fatal(err)
			}
			alg := s.Algorithm()
			digest := alg.Digest([]byte("benchmark message"))
			opts := alg.SignerOpts()
			b.Run(be.name+"/"+k.name+"/serial", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Sign(nil, digest, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sig/s")
			})
			b.Run(be.name+"/"+k.name+"/parallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Sign(nil, digest, opts); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sig/s")
			})
		}
	}
}
