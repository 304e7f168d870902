package hsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// Test hooks: simulate token trouble underneath a keystore. They hold the module's
// operation lock exclusively, so that no operation is in flight (SoftHSM2 crashes if a
// session is closed or the library finalised while another thread uses it, which the
// PKCS#11 standard leaves to the application to prevent), do the damage without the pool
// noticing, and let operations resume on the now dead sessions.

func (k *PKCS11Keystore) quiesce(f func() error) error {
	k.mod.opMu.Lock()
	defer k.mod.opMu.Unlock()
	err := f()
	if isCode(err, p11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		return nil // finalised by an earlier hook and not reconnected yet: as damaged as it gets
	}
	return err
}

// CloseAllSessionsForTest closes every session of the token behind the pool's back (which
// also logs the token out), as a token reset would.
func (k *PKCS11Keystore) CloseAllSessionsForTest() error {
	return k.quiesce(func() error {
		k.pool.mu.Lock()
		slot := k.pool.slot
		k.pool.mu.Unlock()
		return k.mod.ctx.CloseAllSessions(slot)
	})
}

// FinalizeForTest finalises the PKCS#11 library underneath the keystore, so that every
// call fails with CKR_CRYPTOKI_NOT_INITIALIZED until it is initialised again.
func (k *PKCS11Keystore) FinalizeForTest() error {
	return k.quiesce(func() error { return k.mod.ctx.Finalize() })
}

// PoolGeneration returns how many times the session pool has been reset.
func (k *PKCS11Keystore) PoolGeneration() uint64 { return k.pool.generation() }

// CheckWrapKeyForTest checks the attributes of the AES key labelled label: a 256-bit token
// key that is sensitive and not extractable, and whose value cannot be read.
func (k *PKCS11Keystore) CheckWrapKeyForTest(ctx context.Context, label string) error {
	return k.pool.do(ctx, func(s *session) error {
		c := k.mod.ctx
		objs, err := findObjects(c, s.h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY), p11.NewAttribute(p11.CKA_LABEL, label)}, 2)
		if err != nil {
			return err
		}
		if len(objs) != 1 {
			return fmt.Errorf("%d secret keys labelled %q", len(objs), label)
		}
		a, err := c.GetAttributeValue(s.h, objs[0], []*p11.Attribute{
			p11.NewAttribute(p11.CKA_KEY_TYPE, nil), p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
			p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil)})
		if err != nil {
			return err
		}
		if attrULong(a[0].Value) != p11.CKK_AES || attrULong(a[1].Value) != 32 ||
			!bytes.Equal(a[2].Value, []byte{1}) || !bytes.Equal(a[3].Value, []byte{1}) || !bytes.Equal(a[4].Value, []byte{0}) {
			return fmt.Errorf("wrapping key attributes: type %x len %x token %x sensitive %x extractable %x",
				a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value)
		}
		if _, err := c.GetAttributeValue(s.h, objs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); err == nil {
			return errors.New("the wrapping key's value is readable")
		}
		return nil
	})
}
