package hsm

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	p11 "github.com/miekg/pkcs11"
)

// HealthChecker is implemented by both keystores; a readiness probe calls it.
type HealthChecker interface {
	// Check reports whether the keystore can sign with the keys labelled labels now (with
	// no labels: whether it is reachable at all). The error says in words what is wrong
	// (token missing, no passphrase, key file unreadable, no such key, ...) and wraps this
	// package's sentinel errors. It is cheap enough to call on every probe.
	Check(ctx context.Context, labels ...string) error
}

var (
	_ HealthChecker = (*SoftKeystore)(nil)
	_ HealthChecker = (*PKCS11Keystore)(nil)
)

// Check reads the passphrase and every key file in labels, decrypting each once (the
// decrypted key is cached, so later checks only read the file again). A file that was
// removed or damaged since is reported even if its key is cached.
func (k *SoftKeystore) Check(ctx context.Context, labels ...string) error {
	fi, err := os.Stat(k.dir)
	if err != nil {
		return fmt.Errorf("hsm: soft keystore directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("hsm: soft keystore: %s is not a directory", k.dir)
	}
	if len(labels) > 0 {
		if _, err := k.passphrase(); err != nil {
			return err
		}
	}
	for _, label := range labels {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("%w: %q is not a valid label", ErrKeyNotFound, label)
		}
		f, err := k.readFile(label)
		if err != nil {
			return err
		}
		if _, err := f.info(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrKeyFile, k.path(label), err)
		}
		if _, err := k.Signer(ctx, label); err != nil {
			return err
		}
	}
	return nil
}

// checkCacheTTL is how long a successful PKCS#11 check is reused (unless the session pool
// was reset or the token lost meanwhile): a probe every few hundred milliseconds should
// not queue behind signatures for a session.
const checkCacheTTL = time.Second

// pkcs11Check is the last successful check of a PKCS11Keystore.
type pkcs11Check struct {
	labels []string
	gen    uint64
	at     time.Time
}

// Check obtains a logged-in session, checks that the token is in its slot under its label
// and finds the private key of every label. While the token is lost it fails at once (a
// reconnect is attempted at most once per reconnect interval). Successes are cached for
// about a second.
func (k *PKCS11Keystore) Check(ctx context.Context, labels ...string) error {
	now := k.now()
	gen := k.pool.generation()
	k.checkMu.Lock()
	last := k.lastCheck
	k.checkMu.Unlock()
	if last != nil && last.gen == gen && slices.Equal(last.labels, labels) &&
		!now.Before(last.at) && now.Sub(last.at) < checkCacheTTL {
		return nil
	}
	var checkedGen uint64
	err := k.pool.do(ctx, func(s *session) error {
		if err := k.pool.probeLocked(); err != nil {
			return err
		}
		if err := k.pool.login(s.h); err != nil {
			return err
		}
		for _, label := range labels {
			objs, err := findObjects(k.mod.ctx, s.h, []*p11.Attribute{
				p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY), p11.NewAttribute(p11.CKA_LABEL, label)}, 1)
			if err != nil {
				return fmt.Errorf("pkcs11: find key %q: %w", label, err)
			}
			if len(objs) == 0 {
				return fmt.Errorf("%w: no private key labelled %q on token %q", ErrKeyNotFound, label, k.cfg.TokenLabel)
			}
		}
		checkedGen = s.gen
		return nil
	})
	if err != nil {
		return fmt.Errorf("pkcs11 keystore check: %w", err)
	}
	k.checkMu.Lock()
	k.lastCheck = &pkcs11Check{labels: slices.Clone(labels), gen: checkedGen, at: now}
	k.checkMu.Unlock()
	return nil
}
