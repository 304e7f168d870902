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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"eacgate/admin"
	"eacgate/gateway"
	"eacgate/ops"
	"eacgate/store"
)

// operatorUsage is the operator command's usage after "eacgate operator".
const operatorUsage = `add --name N --role system_administrator|ca_operator|ra_operator|auditor [--person P] [--expires 90d] [--tls-cert FILE]
       | list | disable --name N | rotate --name N [--expires 90d] | remove --name N

One person holds one role (TR-03139 5.2): an account whose person (default its name) holds an
account of another role is refused; two accounts of one person and role are two tokens. disable
takes effect at once; rotate prints a new token (shown once) and the old one stops working;
remove is final (the name stays in the audit log). Enabling an operator again and changing
its role are two-person tasks (proposals).`

// runOperator: eacgate operator add | list | disable | rotate | remove.
func runOperator(ctx context.Context, c cli) int {
	var name, role, person, expires, tlsCert string
	st, _, code := storeCommand(ctx, c, "operator", operatorUsage+"\n"+twoPersonHelp, func(sub string, fs *flag.FlagSet) {
		if sub == "list" {
			return
		}
		fs.StringVar(&name, "name", "", "the operator's name (recorded in the audit log)")
		if sub == "add" || sub == "rotate" {
			fs.StringVar(&expires, "expires", "", "the token expires after this time (90d, 12h; default never)")
		}
		if sub == "add" {
			fs.StringVar(&role, "role", "", "system_administrator, ca_operator, ra_operator or auditor")
			fs.StringVar(&person, "person", "", "the person holding the account (default its name): one person, one role")
			fs.StringVar(&tlsCert, "tls-cert", "", "also accept this TLS client certificate (PEM)")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	sub := c.args[0]
	if sub == "list" {
		return listOperators(ctx, c, st)
	}
	var expiresAt *time.Time
	if expires != "" {
		d, err := parseLifetime(expires)
		if err != nil {
			fmt.Fprintf(c.stderr, "--expires: %v\n", err)
			return 2
		}
		at := time.Now().Add(d).UTC().Truncate(time.Second)
		expiresAt = &at
	}
	if sub != "add" {
		return operatorLifecycle(ctx, c, st, sub, name, expiresAt)
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
	token := admin.NewToken()
	// Creating an operator is a critical task (two persons: eacgate proposal); the token is
	// shown now, and works once the proposal is approved.
	p, code := runCritical(ctx, c, st, ops.ActionOperatorAdd, ops.OperatorRegistration{Name: name, Role: store.OperatorRole(role), Person: person,
		TokenSHA256: admin.TokenHash(token), TLSFingerprint: fp, ExpiresAt: expiresAt})
	if p == nil {
		if code == 0 {
			fmt.Fprintf(c.stdout, "Bearer token of %s once approved (shown once, hand over securely):\n%s\n", name, token)
		}
		return code
	}
	fmt.Fprintf(c.stdout, "operator %s (%s) registered. Bearer token (shown once, store it now):\n%s\n", name, role, token)
	return 0
}

// parseLifetime reads a lifetime: a number of days ("90d") or a Go duration ("12h").
func parseLifetime(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 3650 {
			return 0, fmt.Errorf("%q: 1d to 3650d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: a number of days (90d) or a duration (12h)", s)
	}
	return d, nil
}

// lastUse is a last-use time as lists show it.
func lastUse(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// expiryText is an account's expiry as lists show it ("-": none).
func expiryText(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func listOperators(ctx context.Context, c cli, st *store.Store) int {
	os, err := st.ListOperators(ctx)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	now := time.Now()
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tPERSON\tSTATUS\tLAST USE\tEXPIRES\tTOKEN\tTLS FINGERPRINT")
	for i := range os {
		o := &os[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", o.ID, o.Name, o.Role, o.Person, ops.OperatorState(o, now),
			lastUse(o.LastUsedAt), expiryText(o.ExpiresAt), o.TokenHash != "", o.TLSFingerprint)
	}
	tw.Flush()
	return 0
}

// operatorLifecycle disables, rotates or removes the operator named name.
func operatorLifecycle(ctx context.Context, c cli, st *store.Store, sub, name string, expires *time.Time) int {
	if name == "" {
		fmt.Fprintf(c.stderr, "operator %s needs --name N\n", sub)
		return 2
	}
	o, err := st.OperatorByName(ctx, name)
	if err != nil {
		fmt.Fprintf(c.stderr, "operator %s: %s\n", name, ops.PublicText(err))
		return 1
	}
	svc, a := cliOps(c, st), cliActor()
	switch sub {
	case "disable":
		_, err = svc.DisableOperator(ctx, a, o.ID)
	case "remove":
		_, err = svc.RemoveOperator(ctx, a, o.ID)
	case "rotate":
		token := admin.NewToken()
		if _, err = svc.RotateOperatorToken(ctx, a, o.ID, admin.TokenHash(token), expires); err == nil {
			fmt.Fprintf(c.stdout, "operator %s: new bearer token (shown once, store it now; the old one no longer works):\n%s\n", name, token)
			return 0
		}
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "operator %s: %s\n", name, map[string]string{"disable": "disabled", "remove": "removed"}[sub])
	return 0
}

// runAPIClient: eacgate apiclient add --user U --password-file F --cert FILE [--ip CIDR,...]
func runAPIClient(ctx context.Context, c cli) int {
	const usage = "usage: eacgate apiclient add --user U --password-file F --cert FILE [--ip CIDR,...] [--expires 90d] [--token-file F] (--config FILE | --data DIR)\n" +
		"       | list | disable --user U | remove --user U | rotate --user U [--password-file F] [--new-key] [--expires 90d]\n" + twoPersonHelp
	if code, done := commandHelp(c, usage); done {
		return code
	}
	switch c.args[0] {
	case "list", "disable", "remove":
		return apiClientLifecycle(ctx, c)
	case "rotate":
		return rotateAPIClient(ctx, c)
	case "add":
	default:
		return unknownSub(c, "apiclient", usage)
	}
	var user, passFile, certFile, ips, expires *string
	opts, rest, code, done := optionsFor(c, "eacgate apiclient add", usage, c.args[1:], func(fs *flag.FlagSet) {
		user = fs.String("user", "", "the client's user name")
		passFile = fs.String("password-file", "", "file holding the client's password (stored as an Argon2id hash)")
		certFile = fs.String("cert", "", "the client's X.509 signing certificate (PEM): it signs the serials")
		ips = fs.String("ip", "", "comma-separated CIDR ranges the client may call from (default any)")
		expires = fs.String("expires", "", "the credentials expire after this time (90d, 12h; default never)")
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
	expiresAt, err := expiry(*expires)
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
	return addAPIClient(ctx, c, g.Store, g.APIKeyWrapper(), &store.APIClient{UserName: *user, PasswordHash: hash, Certificate: blk.Bytes, IPRanges: ranges, ExpiresAt: expiresAt})
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

// expiry is the end of a lifetime given as --expires (empty: none).
func expiry(flagValue string) (*time.Time, error) {
	if flagValue == "" {
		return nil, nil
	}
	d, err := parseLifetime(flagValue)
	if err != nil {
		return nil, fmt.Errorf("--expires: %w", err)
	}
	at := time.Now().Add(d).UTC().Truncate(time.Second)
	return &at, nil
}

// apiClientLifecycle: eacgate apiclient list | disable --user U | remove --user U.
func apiClientLifecycle(ctx context.Context, c cli) int {
	var user string
	st, _, code := storeCommand(ctx, c, "apiclient", "list | disable --user U | remove --user U", func(sub string, fs *flag.FlagSet) {
		if sub != "list" {
			fs.StringVar(&user, "user", "", "the client's user name")
		}
	})
	if st == nil {
		return code
	}
	defer st.Close()
	sub := c.args[0]
	if sub == "list" {
		cs, err := st.ListAPIClients(ctx)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		now := time.Now()
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tSTATUS\tLAST USE\tEXPIRES\tIP RANGES")
		for i := range cs {
			cl := &cs[i]
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.UserName, ops.APIClientState(cl, now), lastUse(cl.LastUsedAt), expiryText(cl.ExpiresAt), cl.IPRanges)
		}
		tw.Flush()
		return 0
	}
	if user == "" {
		fmt.Fprintf(c.stderr, "apiclient %s needs --user U\n", sub)
		return 2
	}
	cl, err := st.APIClientByUser(ctx, user)
	if err != nil {
		fmt.Fprintf(c.stderr, "API client %s: %s\n", user, ops.PublicText(err))
		return 1
	}
	if sub == "disable" {
		_, err = cliOps(c, st).DisableAPIClient(ctx, cliActor(), cl.ID)
	} else {
		_, err = cliOps(c, st).RemoveAPIClient(ctx, cliActor(), cl.ID)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "API client %s: %sd\n", user, sub)
	return 0
}

// rotateAPIClient: eacgate apiclient rotate --user U [--password-file F] [--new-key]
// [--expires D]: the new key is sealed by the keystore's wrapper as apiclient add seals it.
func rotateAPIClient(ctx context.Context, c cli) int {
	const usage = "usage: eacgate apiclient rotate --user U [--password-file F] [--new-key] [--expires 90d] (--config FILE | --data DIR)\n"
	var user, passFile, expires *string
	var newKey *bool
	opts, rest, code, done := optionsFor(c, "eacgate apiclient rotate", usage, c.args[1:], func(fs *flag.FlagSet) {
		user = fs.String("user", "", "the client's user name")
		passFile = fs.String("password-file", "", "file holding the client's new password")
		newKey = fs.Bool("new-key", false, "make a new AES key (printed once)")
		expires = fs.String("expires", "", "the new credentials expire after this time (90d, 12h; default never)")
	})
	if done {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(c.stderr, "eacgate apiclient rotate: unexpected argument %q\n", rest[0])
		return 2
	}
	if *user == "" || (*passFile == "" && !*newKey) {
		fmt.Fprintln(c.stderr, "apiclient rotate needs --user and --password-file and/or --new-key")
		return 2
	}
	expiresAt, err := expiry(*expires)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	password := ""
	if *passFile != "" {
		pw, err := os.ReadFile(*passFile)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return 1
		}
		password = strings.TrimRight(string(pw), "\r\n")
	}
	g, err := gateway.OpenStores(ctx, opts)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	defer g.Close()
	cl, err := g.Store.APIClientByUser(ctx, *user)
	if err != nil {
		fmt.Fprintf(c.stderr, "API client %s: %s\n", *user, ops.PublicText(err))
		return 1
	}
	sec, key, err := admin.NewAPIClientSecrets(ctx, g.APIKeyWrapper(), cl.EMKey, password, *newKey)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	sec.ExpiresAt = expiresAt
	if _, err := cliOps(c, g.Store).RotateAPIClient(ctx, cliActor(), cl.ID, sec); err != nil {
		fmt.Fprintln(c.stderr, errText(err))
		return 1
	}
	fmt.Fprintf(c.stdout, "API client %s rotated", *user)
	if key != "" {
		fmt.Fprintf(c.stdout, " (new key shown once, hand over securely):\nkey:   %s", key)
	}
	fmt.Fprintln(c.stdout)
	return 0
}
