package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"eacgate/admin"
	"eacgate/gateway"
	"eacgate/ops"
	"eacgate/store"
)

// runOperator: eacgate operator add --name N --role R [--tls-cert FILE] | list
func runOperator(ctx context.Context, c cli) int {
	var name, role, tlsCert, person string
	st, _, code := storeCommand(ctx, c, "operator", "add --name N --role system_administrator|ca_operator|ra_operator|auditor [--person P] [--tls-cert FILE] [--token-file F] | list\n"+twoPersonHelp, func(sub string, fs *flag.FlagSet) {
		if sub == "add" {
			fs.StringVar(&name, "name", "", "the operator's name (recorded in the audit log)")
			fs.StringVar(&role, "role", "", "system_administrator, ca_operator, ra_operator or auditor")
			fs.StringVar(&tlsCert, "tls-cert", "", "also accept this TLS client certificate (PEM)")
			fs.StringVar(&person, "person", "", "the person holding the account (default: the name); two accounts of one person are one person")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	if c.args[0] == "list" {
		ops, err := st.ListOperators(ctx)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tTOKEN\tTLS FINGERPRINT\tDISABLED")
		for _, o := range ops {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%s\t%v\n", o.ID, o.Name, o.Role, o.TokenHash != "", o.TLSFingerprint, o.Disabled)
		}
		tw.Flush()
		return 0
	}
	if name == "" || !store.OperatorRole(role).Valid() {
		fmt.Fprintln(c.stderr, "operator add needs --name N --role system_administrator|ca_operator|ra_operator|auditor")
		return 2
	}
	fp := ""
	if tlsCert != "" {
		var err error
		if fp, err = certFingerprint(tlsCert); err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
	}
	token := randomSecret(32)
	// Creating an operator is a critical task (two persons: eacgate proposal); the token is
	// shown now, and works once the proposal is approved.
	p, code := runCritical(ctx, c, st, ops.ActionOperatorAdd, ops.OperatorRegistration{Name: name, Role: store.OperatorRole(role), Person: person,
		TokenSHA256: admin.TokenHash(token), TLSFingerprint: fp})
	if p == nil {
		if code == 0 {
			fmt.Fprintf(c.stdout, "Bearer token of %s once approved (shown once, hand over securely):\n%s\n", name, token)
		}
		return code
	}
	fmt.Fprintf(c.stdout, "operator %s (%s) registered. Bearer token (shown once, store it now):\n%s\n", name, role, token)
	return 0
}

// runAPIClient: eacgate apiclient add --user U --password-file F --cert FILE [--ip CIDR,...]
func runAPIClient(ctx context.Context, c cli) int {
	const usage = "usage: eacgate apiclient add --user U --password-file F --cert FILE [--ip CIDR,...] [--token-file F] (--config FILE | --data DIR)\n" + twoPersonHelp
	if code, done := commandHelp(c, usage); done {
		return code
	}
	if c.args[0] != "add" {
		return unknownSub(c, "apiclient", usage)
	}
	var user, passFile, certFile, ips *string
	opts, rest, code, done := optionsFor(c, "eacgate apiclient add", usage, c.args[1:], func(fs *flag.FlagSet) {
		user = fs.String("user", "", "the client's user name")
		passFile = fs.String("password-file", "", "file holding the client's password (stored as an Argon2id hash)")
		certFile = fs.String("cert", "", "the client's X.509 signing certificate (PEM): it signs the serials")
		ips = fs.String("ip", "", "comma-separated CIDR ranges the client may call from (default any)")
	})
	if done {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(c.stderr, "eacgate apiclient add: unexpected argument %q\n", rest[0])
		return 2
	}
	if *user == "" || *passFile == "" || *certFile == "" {
		fmt.Fprintln(c.stderr, "apiclient add needs --user, --password-file and --cert")
		return 2
	}
	pw, err := os.ReadFile(*passFile)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	password := strings.TrimRight(string(pw), "\r\n")
	pemBytes, err := os.ReadFile(*certFile)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "CERTIFICATE" {
		fmt.Fprintf(c.stderr, "%s: not a PEM certificate\n", *certFile)
		return 1
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", *certFile, err)
		return 1
	}
	ranges, err := store.NormalizeIPRanges(*ips)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	hash, err := admin.HashPassword(password)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	// The store and the keystore: the client's AES key is stored sealed by the keystore's
	// wrapping key, as the serving gateway reads it.
	g, err := gateway.OpenStores(ctx, opts)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	defer g.Close()
	return addAPIClient(ctx, c, g.Store, g.APIKeyWrapper(), &store.APIClient{UserName: *user, PasswordHash: hash, Certificate: blk.Bytes, IPRanges: ranges})
}

// addAPIClient gives client a fresh emKey and AES key, stores it (the key sealed by w when
// w is set) with its audit event, and prints the emKey and the clear key once.
func addAPIClient(ctx context.Context, c cli, st *store.Store, w store.KeyWrapper, client *store.APIClient) int {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	client.EMKey, client.AESKey = randomSecret(16), append([]byte(nil), key...)
	if w == nil {
		fmt.Fprintln(c.stderr, "warning: no key wrapper configured: the client's AES key is stored in the database in clear")
	}
	if err := admin.SealAPIClientKey(ctx, w, client); err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	// Creating an API client is a critical task (two persons: eacgate proposal).
	p, code := runCritical(ctx, c, st, ops.ActionAPIClientAdd, ops.APIClientRegistration{UserName: client.UserName, EMKey: client.EMKey,
		PasswordHash: client.PasswordHash, AESKey: client.AESKey, KeyWrapped: client.KeyWrapped, Certificate: client.Certificate, IPRanges: client.IPRanges})
	if p == nil {
		if code == 0 {
			fmt.Fprintf(c.stdout, "once approved (shown once, hand over securely):\nemKey: %s\nkey:   %s\n", client.EMKey, base64.StdEncoding.EncodeToString(key))
		}
		return code
	}
	fmt.Fprintf(c.stdout, "API client %s registered (shown once, hand over securely):\nemKey: %s\nkey:   %s\n", client.UserName, client.EMKey, base64.StdEncoding.EncodeToString(key))
	return 0
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
