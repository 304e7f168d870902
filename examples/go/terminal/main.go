// Command terminal is an example TR-03129 client for an inspection system (terminal): it
// asks eacgate's DV endpoint (/dv) for the CA chain (GetCACertificates), for its first CV
// certificate (RequestCertificate, unauthenticated) and for a renewal (RequestCertificate
// authenticated with the current certificate's key), over mutual TLS, through the client in
// examples/go/eacclient that the DV example shares.
//
// State lives in -dir: CHR.cvcert and CHR.pkcs8 for each certificate received. The first
// run asks for HOLDER00001 and renews it to HOLDER00002; every later run renews the newest
// certificate found there. See examples/README.md.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"eacgate/cvc"
	"eacgate/examples/go/eacclient"
	"eacgate/server"
)

func main() {
	cfg := eacclient.Config{Protocol: server.DVProtocols[0], Issuer: cvc.RoleDVDomestic}
	flag.StringVar(&cfg.URL, "url", "https://127.0.0.1:8443/dv", "the gateway's DV endpoint")
	flag.StringVar(&cfg.CertFile, "cert", "term.pem", "TLS client certificate (PEM), registered with eacgate holder add")
	flag.StringVar(&cfg.KeyFile, "key", "term.key", "its private key (PEM)")
	flag.StringVar(&cfg.CAFile, "ca", "eacgate-data/tls.crt", "trust anchor of the gateway's TLS certificate (PEM)")
	flag.StringVar(&cfg.Holder, "holder", "UTISGATE01", "country code and mnemonic the holder is registered with")
	flag.StringVar(&cfg.Dir, "dir", "terminal-state", "where certificates and keys are kept between runs")
	flag.Parse()
	if err := eacclient.Run(context.Background(), cfg); err != nil {
		slog.Error("terminal example failed", "err", err)
		os.Exit(1)
	}
}
