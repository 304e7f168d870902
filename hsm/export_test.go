package hsm

// Test hooks: simulate token trouble underneath a keystore.

// CloseAllSessionsForTest closes every session of the token behind the pool's back (which
// also logs the token out), as a token reset or another process's C_CloseAllSessions would.
func (k *PKCS11Keystore) CloseAllSessionsForTest() error {
	k.pool.mu.Lock()
	slot := k.pool.slot
	k.pool.mu.Unlock()
	return k.mod.ctx.CloseAllSessions(slot)
}

// FinalizeForTest finalises the PKCS#11 library underneath the keystore, so that every
// call fails with CKR_CRYPTOKI_NOT_INITIALIZED until it is initialised again.
func (k *PKCS11Keystore) FinalizeForTest() error { return k.mod.ctx.Finalize() }

// PoolGeneration returns how many times the session pool has been reset.
func (k *PKCS11Keystore) PoolGeneration() uint64 { return k.pool.generation() }
