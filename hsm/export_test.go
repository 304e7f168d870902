package hsm

// Test hooks: simulate token trouble underneath a keystore. They wait until no operation is
// in flight (SoftHSM2 crashes if a session is closed while another thread signs with it,
// which the PKCS#11 standard leaves to the application to prevent), do the damage without
// the pool noticing, and let operations resume on the now dead sessions.

func (k *PKCS11Keystore) quiesce(f func() error) error {
	for i := 0; i < k.pool.size; i++ {
		k.pool.sem <- struct{}{}
	}
	defer func() {
		for i := 0; i < k.pool.size; i++ {
			<-k.pool.sem
		}
	}()
	return f()
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
