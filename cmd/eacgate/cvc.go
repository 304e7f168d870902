package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
)

const cvcUsage = `usage: eacgate cvc print FILE...
       eacgate cvc verify --anchor CVCA_FILE [--chain FILE]... [--at YYYY-MM-DD] FILE
       eacgate cvc request --chr CHR ... --out REQ

Run 'eacgate cvc SUBCOMMAND -h' for the flags.
`

func runCVC(ctx context.Context, c cli) int {
	if code, done := commandHelp(c, cvcUsage); done {
		return code
	}
	sub := cli{args: c.args[1:], stdout: c.stdout, stderr: c.stderr}
	switch c.args[0] {
	case "print":
		return cvcPrint(sub)
	case "verify":
		return cvcVerify(sub)
	case "request":
		return cvcRequest(ctx, sub)
	}
	return unknownSub(c, "cvc", cvcUsage)
}

// readCertificateFile reads and parses a CV certificate file (see readTLVFile); a parse error
// names the file.
func readCertificateFile(path string) (*cvc.Certificate, error) {
	raw, err := readTLVFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := cvc.ParseCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

// listFlag splits a comma-separated flag value, leaving out empty items.
func listFlag(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// readTLVFile reads a certificate or request file: binary, hex text or PEM-like base64 are
// all accepted, as operators receive them in all three forms.
func readTLVFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes, nil
	}
	text := strings.Join(strings.Fields(string(b)), "")
	if len(text) > 0 && len(text)%2 == 0 {
		if h, err := hex.DecodeString(text); err == nil {
			return h, nil
		}
	}
	return b, nil
}

// parseEither decodes a certificate or, failing that, a request.
func parseEither(b []byte) (*cvc.Certificate, *cvc.Request, error) {
	cert, certErr := cvc.ParseCertificate(b)
	if certErr == nil {
		return cert, nil, nil
	}
	req, reqErr := cvc.ParseRequest(b)
	if reqErr == nil {
		return nil, req, nil
	}
	if len(b) > 0 && b[0] == 0x67 {
		return nil, nil, reqErr
	}
	return nil, nil, fmt.Errorf("neither a certificate (%v) nor a request (%v)", certErr, reqErr)
}

func cvcPrint(c cli) int {
	fs := newFlagSet(c, "eacgate cvc print", "usage: eacgate cvc print FILE...\n\nPrints CV certificates and requests (binary, hex or PEM).\n")
	if code, done := parseFlags(c, fs, c.args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	code := 0
	for _, path := range fs.Args() {
		b, err := readTLVFile(path)
		if err != nil {
			fmt.Fprintf(c.stderr, "%s: %v\n", path, err)
			code = 1
			continue
		}
		cert, req, err := parseEither(b)
		switch {
		case err != nil:
			fmt.Fprintf(c.stderr, "%s: %v\n", path, err)
			code = 1
		case cert != nil:
			_ = cert.Describe(c.stdout)
		default:
			_ = req.Describe(c.stdout)
		}
	}
	return code
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cvcVerify(c cli) int {
	fs := newFlagSet(c, "eacgate cvc verify", `usage: eacgate cvc verify --anchor CVCA_FILE [--chain FILE]... [--at YYYY-MM-DD] FILE

exit status 0: valid; 1: invalid (the reason is printed); 2: usage or unreadable input
`)
	var anchors, chain multiFlag
	fs.Var(&anchors, "anchor", "trusted CVCA certificate (repeatable)")
	fs.Var(&chain, "chain", "further certificate: link, DV, or the outer signer of a request (repeatable)")
	at := fs.String("at", "", "check validity as of this day, YYYY-MM-DD (default: today)")
	if code, done := parseFlags(c, fs, c.args); done {
		return code
	}
	if fs.NArg() != 1 || len(anchors) == 0 {
		fs.Usage()
		return 2
	}
	opts := cvc.VerifyOptions{At: time.Now()}
	if *at != "" {
		d, err := cvc.ParseDate(*at)
		if err != nil {
			fmt.Fprintf(c.stderr, "--at: %v\n", err)
			return 2
		}
		opts.At = d.Time()
	}
	load := func(path string) (*cvc.Certificate, bool) {
		b, err := readTLVFile(path)
		if err == nil {
			var cert *cvc.Certificate
			if cert, err = cvc.ParseCertificate(b); err == nil {
				return cert, true
			}
		}
		fmt.Fprintf(c.stderr, "%s: %v\n", path, err)
		return nil, false
	}
	for _, p := range anchors {
		cert, ok := load(p)
		if !ok {
			return 2
		}
		opts.Anchors = append(opts.Anchors, cert)
	}
	for _, p := range chain {
		cert, ok := load(p)
		if !ok {
			return 2
		}
		opts.Intermediates = append(opts.Intermediates, cert)
	}
	b, err := readTLVFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	cert, req, err := parseEither(b)
	if err != nil {
		fmt.Fprintf(c.stdout, "INVALID: %v\n", err)
		return 1
	}
	if cert != nil {
		path, err := cvc.Verify(cert, opts)
		if err != nil {
			fmt.Fprintf(c.stdout, "INVALID: %v\n", err)
			return 1
		}
		fmt.Fprintf(c.stdout, "VALID: %s on %s\n", chrPath(path), cvc.DateOf(opts.At))
		return 0
	}
	if err := verifyRequest(c.stdout, req, opts); err != nil {
		fmt.Fprintf(c.stdout, "INVALID: %v\n", err)
		return 1
	}
	return 0
}

// verifyRequest checks a request's inner signature (domain parameters from the request or the
// chain of its CAR) and, if authenticated, its outer signature by a certificate that chains to
// an anchor and is valid on the day.
func verifyRequest(w io.Writer, req *cvc.Request, opts cvc.VerifyOptions) error {
	var domain *ecc.Curve
	if req.CAR != "" {
		for _, cand := range append(append([]*cvc.Certificate{}, opts.Anchors...), opts.Intermediates...) {
			if cand.CHR == req.CAR {
				if path, err := cvc.Verify(cand, opts); err == nil {
					domain = cvc.Domain(path)
					break
				}
			}
		}
	}
	if req.Authenticated() {
		var lastErr error = fmt.Errorf("%w: outer signer %s not among the given certificates", cvc.ErrChain, req.OuterCAR)
		for _, cand := range append(append([]*cvc.Certificate{}, opts.Anchors...), opts.Intermediates...) {
			if cand.CHR != req.OuterCAR {
				continue
			}
			path, err := cvc.Verify(cand, opts)
			if err != nil {
				lastErr = fmt.Errorf("outer signer: %w", err)
				continue
			}
			if domain == nil {
				domain = cvc.Domain(path)
			}
			if err := req.VerifyOuterWith(cand, cvc.Domain(path)); err != nil {
				return err
			}
			if err := req.VerifyInner(domain); err != nil {
				return err
			}
			fmt.Fprintf(w, "VALID: request %s, inner signature OK, outer signature by %s OK\n", req.CHR, chrPath(path))
			return nil
		}
		return lastErr
	}
	if err := req.VerifyInner(domain); err != nil {
		return err
	}
	fmt.Fprintf(w, "VALID: request %s, inner signature OK (not authenticated)\n", req.CHR)
	return nil
}

func chrPath(path []*cvc.Certificate) string {
	names := make([]string, len(path))
	for i, p := range path {
		names[i] = p.CHR
	}
	return strings.Join(names, " -> ")
}

func cvcRequest(ctx context.Context, c cli) int {
	fs := newFlagSet(c, "eacgate cvc request", `usage: eacgate cvc request --chr CHR [--car CAR] [--alg ALG] [--curve CURVE | --rsa-bits N]
       (--key KEY | --key-out NEWKEY | --label LABEL) [(--outer-key OLDKEY | --outer-label LABEL) --outer-cert OLDCERT] --out REQ
       keystore flags (for --label, --outer-label) as for 'eacgate key', or --config FILE
       KEY and OLDKEY: PKCS#8 ("PRIVATE KEY", as openssl genpkey writes) or SEC1 ("EC PRIVATE
       KEY", as openssl ecparam -genkey writes) EC keys, PKCS#8 or PKCS#1 RSA keys; PEM or DER
`)
	var kf keyFlags
	kf.register(fs)
	label := fs.String("label", "", "generate the new key in the keystore (see --backend) under this label")
	outerLabel := fs.String("outer-label", "", "authenticate with this keystore key (with --outer-cert)")
	algName := fs.String("alg", "ECDSA_SHA_256", "TR-03110 algorithm of the new key (ECDSA_SHA_256, RSA_PSS_SHA_256, ...)")
	curveName := fs.String("curve", "brainpoolP256r1", "curve of a new EC key")
	rsaBits := fs.Int("rsa-bits", 3072, "size of a new RSA key")
	chr := fs.String("chr", "", "holder reference the new certificate should carry (required)")
	car := fs.String("car", "", "the CA the request is for (optional inner CAR)")
	keyIn := fs.String("key", "", "use this private key (PEM or DER: PKCS#8, SEC1 or PKCS#1) instead of generating one")
	keyOut := fs.String("key-out", "", "write the new private key here as PKCS#8 DER, mode 0600 (required when a key is generated)")
	noDomain := fs.Bool("no-domain", false, "leave the EC domain parameters out of the request (not TR-03110 conformant; for tests)")
	outerKey := fs.String("outer-key", "", "authenticate with this private key (as --key): the key of the holder's current certificate")
	outerCert := fs.String("outer-cert", "", "the holder's current certificate (its CHR becomes the outer CAR)")
	out := fs.String("out", "", "write the request here (required)")
	if code, done := parseFlags(c, fs, c.args); done {
		return code
	}
	newKeySources := 0
	for _, v := range []string{*keyIn, *keyOut, *label} {
		if v != "" {
			newKeySources++
		}
	}
	outerSources := 0
	for _, v := range []string{*outerKey, *outerLabel} {
		if v != "" {
			outerSources++
		}
	}
	if *chr == "" || *out == "" || newKeySources != 1 || outerSources > 1 || (outerSources == 1) != (*outerCert != "") || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	alg, err := cvc.ParseAlgorithm(*algName)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	var ks hsm.Keystore
	if *label != "" || *outerLabel != "" {
		if ks, err = kf.open(ctx, slog.New(slog.NewTextHandler(c.stderr, nil))); err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		defer ks.Close()
	}
	var signer crypto.Signer
	switch {
	case *keyIn != "":
		signer, err = loadPrivateKey(*keyIn)
	case *label != "":
		spec := hsm.KeySpec{Algorithm: alg, RSABits: *rsaBits}
		if alg.IsECDSA() {
			spec = hsm.KeySpec{Algorithm: alg, Curve: *curveName}
		}
		signer, err = ks.Generate(ctx, *label, spec)
	default:
		signer, err = generateKey(alg, *curveName, *rsaBits)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	pub, err := cvc.NewPublicKey(alg, signer.Public(), !*noDomain)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: *car, CHR: *chr}, pub, signer)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	if outerSources == 1 {
		var oldKey crypto.Signer
		if *outerKey != "" {
			oldKey, err = loadPrivateKey(*outerKey)
		} else {
			oldKey, err = ks.Signer(ctx, *outerLabel)
		}
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		b, err := readTLVFile(*outerCert)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		old, err := cvc.ParseCertificate(b)
		if err != nil {
			fmt.Fprintf(c.stderr, "%s: %v\n", *outerCert, err)
			return 1
		}
		if req, err = req.Authenticate(old.CHR, oldKey, old.PublicKey.Algorithm); err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
	}
	if *keyOut != "" {
		der, err := marshalPrivateKey(signer)
		if err == nil {
			err = writeNewFile(*keyOut, der, 0o600)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "write key: %v\n", err)
			return 1
		}
	}
	if err := os.WriteFile(*out, req.Raw, 0o644); err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	_ = req.Describe(c.stdout)
	return 0
}

func generateKey(alg cvc.Algorithm, curveName string, rsaBits int) (crypto.Signer, error) {
	if alg.IsRSA() {
		if rsaBits < 2048 || rsaBits > 8192 {
			return nil, fmt.Errorf("--rsa-bits %d: want 2048 to 8192", rsaBits)
		}
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	curve := ecc.CurveByName(curveName)
	if curve == nil {
		return nil, fmt.Errorf("unknown curve %q", curveName)
	}
	return ecc.GenerateKey(curve, rand.Reader)
}

// loadPrivateKey reads an unencrypted private key, EC on any supported curve (brainpool
// included) or RSA, in the forms openssl writes: PEM or DER, PKCS#8 ("PRIVATE KEY", openssl
// genpkey), SEC1 ("EC PRIVATE KEY", openssl ecparam -genkey, preceded by an "EC PARAMETERS"
// block) or PKCS#1 ("RSA PRIVATE KEY").
func loadPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(b), "-----BEGIN") {
		k, err := parsePrivateKeyDER(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return nil, fmt.Errorf("%s: no PEM private key (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", path)
		}
		var k crypto.Signer
		switch blk.Type {
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			k, err = parsePrivateKeyDER(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			err = errors.New("encrypted keys are not read: decrypt it first (openssl pkey -in KEY -out PLAIN)")
		default:
			continue // EC PARAMETERS and the like
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, blk.Type, err)
		}
		return k, nil
	}
}

// parsePrivateKeyDER tries PKCS#8 (EC, RSA), SEC1 and PKCS#1.
func parsePrivateKeyDER(der []byte) (crypto.Signer, error) {
	if k, err := ecc.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := ecc.ParseSEC1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8, SEC1 or PKCS#1 EC or RSA key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return rk, nil
}

func marshalPrivateKey(k crypto.Signer) ([]byte, error) {
	switch key := k.(type) {
	case *ecc.PrivateKey:
		return ecc.MarshalPKCS8PrivateKey(key)
	case *rsa.PrivateKey:
		return x509.MarshalPKCS8PrivateKey(key)
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}

// writeNewFile creates path with mode perm and refuses to overwrite an existing file.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
