package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"eacgate/config"
	"eacgate/cvc"
	"eacgate/hsm"
)

const keyUsage = `usage: eacgate key generate (--config FILE | --backend soft|pkcs11 BACKEND-FLAGS) --label LABEL --alg ALG [--curve CURVE] [--rsa-bits N]
       eacgate key list (--config FILE | --backend soft|pkcs11 BACKEND-FLAGS)

Generate a signing key or list the keys of a keystore.

ALG is a TR-03110 algorithm: ECDSA_SHA_1|224|256|384|512, RSA_v1_5_SHA_1|256|512,
RSA_PSS_SHA_1|256|512 (or the id-TA-... names). CURVE is one of P-224, P-256, P-384,
P-521, brainpoolP224r1, brainpoolP256r1, brainpoolP320r1, brainpoolP384r1, brainpoolP512r1
(default: P-256/P-384/P-521 by the hash size). RSA keys have 2048 to 4096 bits (default 3072).

soft backend (encrypted key files):
  --keystore DIR            key directory (created with mode 0700)
  --passphrase-file FILE    file holding the passphrase, or
  --passphrase-env VAR      environment variable holding it (list needs neither)

pkcs11 backend:
  --module PATH             PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)
  --token LABEL             token label
  --pin-file FILE           file holding the user PIN, or
  --pin-env VAR             environment variable holding it

--config FILE: the keystore of the configuration's keystore: section, instead of the flags.

PINs and passphrases are never accepted on the command line.
`

// keyFlags are the flags shared by key generate and key list.
type keyFlags struct {
	config                      string
	backend                     string
	keystore, passFile, passEnv string
	module, token               string
	pinFile, pinEnv             string
}

func (f *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "the keystore of this configuration's keystore: section (instead of the other flags)")
	fs.StringVar(&f.backend, "backend", "soft", "keystore backend: soft or pkcs11")
	fs.StringVar(&f.keystore, "keystore", "", "soft: key directory")
	fs.StringVar(&f.passFile, "passphrase-file", "", "soft: file holding the passphrase")
	fs.StringVar(&f.passEnv, "passphrase-env", "", "soft: environment variable holding the passphrase")
	fs.StringVar(&f.module, "module", "", "pkcs11: PKCS#11 library path")
	fs.StringVar(&f.token, "token", "", "pkcs11: token label")
	fs.StringVar(&f.pinFile, "pin-file", "", "pkcs11: file holding the user PIN")
	fs.StringVar(&f.pinEnv, "pin-env", "", "pkcs11: environment variable holding the user PIN")
}

// open opens the keystore the flags describe.
func (f *keyFlags) open(ctx context.Context, log *slog.Logger) (hsm.Keystore, error) {
	if f.config != "" {
		return f.openConfigured(ctx, log)
	}
	switch f.backend {
	case "soft":
		if f.module != "" || f.token != "" || f.pinFile != "" || f.pinEnv != "" {
			return nil, errors.New("--module, --token, --pin-file and --pin-env are for --backend pkcs11")
		}
		if f.keystore == "" {
			return nil, errors.New("--keystore DIR is required for --backend soft")
		}
		return hsm.OpenSoft(hsm.SoftConfig{Dir: f.keystore,
			Passphrase: hsm.Secret{File: f.passFile, Env: f.passEnv}, Logger: log})
	case "pkcs11":
		if f.keystore != "" || f.passFile != "" || f.passEnv != "" {
			return nil, errors.New("--keystore, --passphrase-file and --passphrase-env are for --backend soft")
		}
		if f.module == "" || f.token == "" {
			return nil, errors.New("--module PATH and --token LABEL are required for --backend pkcs11")
		}
		if f.pinFile == "" && f.pinEnv == "" {
			return nil, errors.New("--pin-file FILE or --pin-env VAR is required for --backend pkcs11")
		}
		return hsm.OpenPKCS11(ctx, hsm.PKCS11Config{ModulePath: f.module, TokenLabel: f.token,
			PIN: hsm.Secret{File: f.pinFile, Env: f.pinEnv}, PoolSize: 1, Logger: log})
	}
	return nil, fmt.Errorf("unknown --backend %q (want soft or pkcs11)", f.backend)
}

// openConfigured opens the keystore of the configuration's keystore: section, the one
// the gateway serving with that configuration uses.
func (f *keyFlags) openConfigured(ctx context.Context, log *slog.Logger) (hsm.Keystore, error) {
	if f.backend != "soft" || f.keystore != "" || f.passFile != "" || f.passEnv != "" ||
		f.module != "" || f.token != "" || f.pinFile != "" || f.pinEnv != "" {
		return nil, errors.New("--config names the keystore: give it or the keystore flags, not both")
	}
	opts, err := config.Load(f.config)
	if err != nil {
		return nil, err
	}
	if opts.Keystore == nil {
		return nil, fmt.Errorf("%s has no keystore: section (the gateway then keeps its keys in DATA/keys: use --keystore DIR --passphrase-env EACGATE_KEYSTORE_PASSPHRASE)", f.config)
	}
	kc := *opts.Keystore
	kc.Soft.Logger, kc.PKCS11.Logger = log, log
	return hsm.Open(ctx, kc)
}

// runKey implements "eacgate key generate|list".
func runKey(ctx context.Context, c cli) int {
	if code, done := commandHelp(c, keyUsage); done {
		return code
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch c.args[0] {
	case "generate":
		return keyGenerate(ctx, c, log)
	case "list":
		return keyList(ctx, c, log)
	}
	return unknownSub(c, "key", keyUsage)
}

func newKeyFlagSet(name string, c cli) *flag.FlagSet {
	return newFlagSet(c, "eacgate key "+name, keyUsage)
}

func keyGenerate(ctx context.Context, c cli, log *slog.Logger) int {
	fs := newKeyFlagSet("generate", c)
	var kf keyFlags
	kf.register(fs)
	label := fs.String("label", "", "key label")
	algName := fs.String("alg", "", "TR-03110 signature algorithm, e.g. ECDSA_SHA_256")
	curve := fs.String("curve", "", "EC curve, e.g. brainpoolP256r1")
	rsaBits := fs.Int("rsa-bits", 0, "RSA modulus size (2048..4096, default 3072)")
	if code, done := parseFlags(c, fs, c.args[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "eacgate key generate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *label == "" || *algName == "" {
		fmt.Fprintln(c.stderr, "eacgate key generate: --label and --alg are required")
		return 2
	}
	alg, err := cvc.ParseAlgorithm(*algName)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate key generate: %v\n", err)
		return 2
	}
	ks, err := kf.open(ctx, log)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate key generate: %v\n", err)
		return 1
	}
	defer ks.Close()
	s, err := ks.Generate(ctx, *label, hsm.KeySpec{Algorithm: alg, Curve: *curve, RSABits: *rsaBits})
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate key generate: %v\n", err)
		return 1
	}
	info := hsm.KeyInfo{Label: s.Label(), Algorithm: s.Algorithm(), Public: s.Public()}
	if idr, ok := s.(interface{ ID() []byte }); ok {
		info.ID = idr.ID()
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(w, "label:\t%s\n", info.Label)
	fmt.Fprintf(w, "algorithm:\t%s (%s)\n", info.Algorithm, info.Algorithm.Scheme())
	fmt.Fprintf(w, "key:\t%s\n", keyDescription(info))
	if info.ID != nil {
		fmt.Fprintf(w, "id:\t%x\n", info.ID)
	}
	fmt.Fprintf(w, "public key:\t%s\n", hex.EncodeToString(hsm.PublicKeyBytes(info.Public)))
	w.Flush()
	return 0
}

func keyList(ctx context.Context, c cli, log *slog.Logger) int {
	fs := newKeyFlagSet("list", c)
	var kf keyFlags
	kf.register(fs)
	if code, done := parseFlags(c, fs, c.args[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "eacgate key list: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ks, err := kf.open(ctx, log)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate key list: %v\n", err)
		return 1
	}
	defer ks.Close()
	infos, err := ks.List(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate key list: %v\n", err)
		return 1
	}
	printKeyList(c.stdout, infos)
	return 0
}

func printKeyList(out io.Writer, infos []hsm.KeyInfo) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LABEL\tALGORITHM\tKEY\tCREATED\tID\tPUBLIC KEY")
	for _, in := range infos {
		created, id := "-", "-"
		if !in.Created.IsZero() {
			created = in.Created.UTC().Format(time.DateOnly)
		}
		if len(in.ID) > 0 {
			id = hex.EncodeToString(in.ID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Label, in.Algorithm.Scheme(), keyDescription(in), created, id,
			hex.EncodeToString(hsm.PublicKeyBytes(in.Public)))
	}
	w.Flush()
}

// keyDescription is "brainpoolP256r1" or "RSA-3072".
func keyDescription(in hsm.KeyInfo) string {
	if d := hsm.DescribePublicKey(in.Public); d != "" {
		return d
	}
	if in.Curve != "" {
		return in.Curve
	}
	return "RSA-" + strconv.Itoa(in.RSABits)
}
