// Command dv is an example TR-03129 client for a document verifier (DV) of the gateway's
// country: it asks eacgate's CVCA endpoint (/cvca) for the CVCA certificates
// (GetCACertificates), for the DV's first CV certificate (RequestCertificate,
// unauthenticated) and for a renewal (RequestCertificate authenticated with the current
// certificate's key), over mutual TLS, through the client in examples/go/eacclient that
// the terminal example shares, with the CVCA interface and the CVCA as issuer.
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
	cfg := eacclient.Config{Protocol: server.CVCAProtocols[0], Issuer: cvc.RoleCVCA}
	flag.StringVar(&cfg.URL, "url", "https://127.0.0.1:8443/cvca", "the gateway's CVCA endpoint")
	flag.StringVar(&cfg.CertFile, "cert", "dv.pem", "TLS client certificate (PEM), registered with eacgate holder add")
	flag.StringVar(&cfg.KeyFile, "key", "dv.key", "its private key (PEM)")
	flag.StringVar(&cfg.CAFile, "ca", "eacgate-data/tls.crt", "trust anchor of the gateway's TLS certificate (PEM)")
	flag.StringVar(&cfg.Holder, "holder", "UTDVBORDER", "country code and mnemonic the holder is registered with")
	flag.StringVar(&cfg.Dir, "dir", "dv-state", "where certificates and keys are kept between runs")
	flag.Parse()
	if err := eacclient.Run(context.Background(), cfg); err != nil {
		slog.Error("DV example failed", "err", err)
		os.Exit(1)
	}
}
